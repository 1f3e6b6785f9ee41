"""The chat backend: one OpenAI-compatible endpoint through LangChain's ``ChatOpenAI``.

``ChatBackend`` is the small interface the task modules use (``complete`` and ``stream``);
``OpenAIChat`` implements it over the configured endpoint. With no endpoint configured the task
modules use their offline engines instead and say so in their output.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from rag.settings import Settings


class LLMError(RuntimeError):
    """The endpoint failed after its retries; the message is safe to show to a user."""


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


class OpenAIChat:
    """Any OpenAI-compatible endpoint (OpenAI, DeepSeek, Qwen, vLLM, Ollama, llama.cpp server)."""

    def __init__(self, settings: Settings) -> None:
        from rag.backends import make_chat_model

        self.settings = settings
        self.name = f"openai:{settings.llm_model}"
        self.chat = make_chat_model(settings)

    def as_runnable(self):
        """The underlying LangChain chat model, for users' own chains."""
        return self.chat

    def complete(self, messages: list[dict[str, str]]) -> LLMReply:
        start = time.perf_counter()
        try:
            msg = self.chat.invoke(messages)
        except Exception as exc:  # openai / httpx errors, after the client's own retries
            raise LLMError(describe_error(exc)) from exc
        usage = getattr(msg, "usage_metadata", None) or {}
        return LLMReply(
            text=str(msg.content),
            model=self.settings.llm_model,
            prompt_tokens=int(usage.get("input_tokens", 0)),
            completion_tokens=int(usage.get("output_tokens", 0)),
            latency_s=time.perf_counter() - start,
        )

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        try:
            for chunk in self.chat.stream(messages):
                if chunk.content:
                    yield str(chunk.content)
        except Exception as exc:
            raise LLMError(describe_error(exc)) from exc


def describe_error(exc: Exception) -> str:
    """A short Chinese description of an endpoint failure (no secrets, no request body)."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if status == 429:
        return "大模型接口限流（429），重试后仍失败，请稍后再试。"
    if status is not None and status >= 500:
        return f"大模型接口服务端错误（{status}），重试后仍失败。"
    if status in (401, 403):
        return f"大模型接口拒绝访问（{status}），请检查 XS_LLM_API_KEY。"
    if "Timeout" in name:
        return "大模型接口超时，请检查服务是否可用或调大 XS_LLM_TIMEOUT_S。"
    if "Connection" in name:
        return "无法连接大模型接口，请检查 XS_LLM_BASE_URL。"
    return f"大模型接口调用失败（{name}）。"


def make_chat_backend(settings: Settings) -> ChatBackend | None:
    """The configured chat backend, or None for the offline engine."""
    match settings.llm_configured:
        case True:
            return OpenAIChat(settings)
        case False:
            return None
