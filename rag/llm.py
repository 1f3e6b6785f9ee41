"""The chat backend: one OpenAI-compatible endpoint through LangChain's ``ChatOpenAI``.

``ChatBackend`` is the small interface the task modules use (``complete`` and ``stream``);
``OpenAIChat`` implements it over the configured endpoint. With no endpoint configured the task
modules use their offline engines instead and say so in their output.

Every call is bounded three ways: per-request connect/read timeouts and retries (honouring
Retry-After) in the client (``rag.backends.make_openai_client``); one overall deadline per call
(``llm_deadline_s``) that covers retries and the whole stream; and a circuit breaker that fails
fast for a cool-down after repeated failures, so users get the offline answer at once instead of
waiting on an endpoint that is down.
"""

from __future__ import annotations

import contextvars
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from rag.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class LLMError(RuntimeError):
    """The endpoint failed after its retries; the message is safe to show to a user."""


class DeadlineExceeded(TimeoutError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g} s")
        self.seconds = seconds


class TruncatedStream(RuntimeError):
    """The stream ended without a finish reason: the answer is incomplete."""


class _Cancelled(RuntimeError):
    """Raised before an HTTP request in a call whose caller has already given up."""


@dataclass
class LLMReply:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    extra: dict = field(default_factory=dict)


class ChatBackend(Protocol):
    name: str

    def complete(self, messages: list[dict[str, str]]) -> LLMReply: ...

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]: ...


@dataclass
class CircuitBreaker:
    """Open after ``threshold`` consecutive failures: calls fail fast for ``cooldown_s``.

    After the cool-down one call goes through as a probe (the others keep failing fast for
    another cool-down); a success closes the breaker, a failure re-opens it at once.
    """

    threshold: int = 3
    cooldown_s: float = 30.0
    failures: int = 0
    opened_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self) -> None:
        with self._lock:
            if self.opened_at is None:
                return
            wait = self.opened_at + self.cooldown_s - time.monotonic()
            if wait > 0:
                raise LLMError(
                    f"大模型接口暂不可用（已连续失败 {self.failures} 次），"
                    f"{math.ceil(wait)} 秒内不再尝试，先使用离线引擎。"
                )
            self.opened_at = time.monotonic()  # half-open: this call is the probe

    def record(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self.failures, self.opened_at = 0, None
                return
            self.failures += 1
            if self.failures >= self.threshold:
                self.opened_at = time.monotonic()


class OpenAIChat:
    """Any OpenAI-compatible endpoint (OpenAI, DeepSeek, Qwen, vLLM, Ollama, llama.cpp server)."""

    def __init__(self, settings: Settings, breaker: CircuitBreaker | None = None) -> None:
        from rag.backends import make_chat_model

        self.settings = settings
        self.name = f"openai:{settings.llm_model}"
        self.breaker = breaker or CircuitBreaker()
        self._local = threading.local()  # the worker thread's "caller gave up" event
        self.chat = make_chat_model(settings, on_request=self._before_request)

    def as_runnable(self):
        """The underlying LangChain chat model, for users' own chains (no deadline or breaker)."""
        return self.chat

    def complete(self, messages: list[dict[str, str]]) -> LLMReply:
        start = time.perf_counter()
        (msg,) = list(self._guarded(lambda: iter([self.chat.invoke(messages)])))
        usage = getattr(msg, "usage_metadata", None) or {}
        return LLMReply(
            text=str(msg.content),
            model=self.settings.llm_model,
            prompt_tokens=int(usage.get("input_tokens", 0)),
            completion_tokens=int(usage.get("output_tokens", 0)),
            latency_s=time.perf_counter() - start,
            extra={"finish_reason": msg.response_metadata.get("finish_reason")},
        )

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        for chunk in self._guarded(lambda: self._chunks(messages)):
            if chunk.content:
                yield str(chunk.content)

    def _chunks(self, messages: list[dict[str, str]]) -> Iterator[Any]:
        """LangChain's stream, checked for its final chunk (a cut stream must not pass as whole)."""
        finished = False
        for chunk in self.chat.stream(messages):
            finished = finished or bool(chunk.response_metadata.get("finish_reason"))
            yield chunk
        if not finished:
            raise TruncatedStream("stream ended without finish_reason")

    def _guarded(self, produce: Callable[[], Iterator[T]]) -> Iterator[T]:
        """Breaker check, deadline, and every failure turned into a user-safe ``LLMError``."""
        self.breaker.check()
        started = False
        try:
            for item in self._bounded(produce):
                started = True
                yield item
        except Exception as exc:  # openai / httpx / langchain errors, after the client's retries
            self.breaker.record(False)
            message = describe_error(exc, streamed=started)
            log.warning("LLM call to %s failed: %s (%s)", self.name, message, type(exc).__name__)
            raise LLMError(message) from exc
        self.breaker.record(True)

    def _bounded(self, produce: Callable[[], Iterator[T]]) -> Iterator[T]:
        """Run ``produce`` in a worker thread and pass its items on until ``llm_deadline_s``.

        A sync HTTP read cannot be interrupted from outside, so the caller stops waiting at the
        deadline and the worker is told to give up: it stops at its next item, and the request
        hook refuses any further HTTP request (a retry after a long Retry-After, say).
        """
        seconds = self.settings.llm_deadline_s
        deadline = time.monotonic() + seconds
        items: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        cancelled = threading.Event()
        done = object()

        def work() -> None:
            self._local.cancelled = cancelled
            source = None
            try:
                source = produce()
                for item in source:
                    if cancelled.is_set():
                        return
                    items.put((True, item))
                items.put((True, done))
            except BaseException as exc:  # handed to the caller's thread
                items.put((False, exc))
            finally:
                getattr(source, "close", lambda: None)()  # a stream releases its connection

        ctx = contextvars.copy_context()
        threading.Thread(target=ctx.run, args=(work,), name="xs-llm-call", daemon=True).start()
        try:
            while True:
                try:
                    ok, item = items.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    raise DeadlineExceeded(seconds) from None
                if not ok:
                    raise item
                if item is done:
                    return
                yield item
        finally:
            cancelled.set()

    def _before_request(self, request: Any) -> None:
        cancelled = getattr(self._local, "cancelled", None)
        if cancelled is not None and cancelled.is_set():
            raise _Cancelled("the caller gave up on this call")


def describe_error(exc: BaseException, streamed: bool = False) -> str:
    """A short Chinese description of an endpoint failure (no secrets, no request body).

    ``streamed``: part of the answer had already arrived when the failure happened.
    """
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if isinstance(exc, DeadlineExceeded):
        return f"大模型接口在 {exc.seconds:g} 秒内没有完成回答，已放弃（可调大 XS_LLM_DEADLINE_S）。"
    if isinstance(exc, TruncatedStream):
        return "大模型接口的流式响应不完整（缺少结束标记），已放弃该回答。"
    if status == 429:
        return "大模型接口限流（429），重试后仍失败，请稍后再试。"
    if status is not None and status >= 500:
        return f"大模型接口服务端错误（{status}），重试后仍失败。"
    if status in (401, 403):
        return f"大模型接口拒绝访问（{status}），请检查 XS_LLM_API_KEY。"
    if status == 404:
        return "大模型接口地址或模型不存在（404），请检查 XS_LLM_BASE_URL 与 XS_LLM_MODEL。"
    if status is not None:
        return f"大模型接口拒绝了请求（{status}）。"
    if "Timeout" in name:
        return "大模型接口超时，请检查服务是否可用或调大 XS_LLM_TIMEOUT_S。"
    if "Connection" in name and streamed:
        return "大模型接口的流式响应中途断开，已放弃该回答。"
    if "Connection" in name:
        return "无法连接大模型接口，请检查 XS_LLM_BASE_URL。"
    if isinstance(exc, ValueError) or "Validation" in name:  # json.JSONDecodeError is a ValueError
        return "大模型接口返回了无法解析的内容，请确认 XS_LLM_BASE_URL 指向 OpenAI 兼容接口。"
    return f"大模型接口调用失败（{name}）。"


def make_chat_backend(settings: Settings) -> ChatBackend | None:
    """The configured chat backend, or None for the offline engine."""
    match settings.llm_configured:
        case True:
            return OpenAIChat(settings)
        case False:
            return None
