"""A scripted OpenAI-protocol server on 127.0.0.1 for testing the LLM adapter over real HTTP.

``server.script(*behaviours)`` queues behaviours; each chat-completions request consumes one:

- ``Reply(text)``: a normal answer, JSON or SSE (``stream: true``), with usage. ``text`` may be a
  callable taking the recorded request. ``chunk_delay`` trickles SSE chunks (a slow but live stream).
- ``Status(code, retry_after=None)``: an OpenAI-style error body with that status (and Retry-After).
- ``Hang(seconds, partial_text="")``: say nothing for ``seconds`` (after streaming ``partial_text``
  when given), then drop the connection.
- ``CutStream(partial_text, clean=False)``: stream some chunks, then close the connection without
  ``[DONE]`` (mid chunked body; with ``clean=True`` the HTTP body ends properly but the SSE stream
  still lacks its finish chunk and ``[DONE]``).
- ``BadJSON()``: a 200 whose body (or SSE event) is not valid JSON.

Every request (method, path, headers, parsed JSON body, arrival time) lands in ``server.requests``.
A request that finds the queue empty gets a 599 "script exhausted" and is recorded in
``server.errors``; the ``openai_server`` fixture fails the test at teardown when there are errors
or behaviours left unused, so a test cannot pass by accident (simonw/llm's MockModel does the same).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None
    at: float  # time.monotonic() on arrival

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages", []))

    @property
    def system(self) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == "system")

    @property
    def streaming(self) -> bool:
        return bool((self.body or {}).get("stream"))


@dataclass
class Reply:
    text: str | Callable[[Request], str]
    finish_reason: str = "stop"
    chunk_chars: int = 4
    chunk_delay: float = 0.0


@dataclass
class Status:
    code: int
    retry_after: float | None = None
    message: str = ""


@dataclass
class Hang:
    seconds: float
    partial_text: str = ""


@dataclass
class CutStream:
    partial_text: str
    clean: bool = False


@dataclass
class BadJSON:
    pass


Behaviour = Reply | Status | Hang | CutStream | BadJSON


@dataclass
class _State:
    queue: deque = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)
    models: list[str] = field(default_factory=lambda: ["test-model"])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: _State  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    # -- plumbing -----------------------------------------------------------------------------
    def _record(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic())
        with self.state.lock:
            self.state.requests.append(req)
        return req

    def _json(self, code: int, payload: Any, headers: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _sse_start(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _sse(self, payload: Any) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        event = f"data: {data}\n\n".encode()
        self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        self.wfile.flush()

    def _sse_end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """Close the connection abruptly, mid-response."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- routes -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._record()
        if self.path.rstrip("/") == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "xiansuo-test"} for m in self.state.models]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        req = self._record()
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        with self.state.lock:
            behaviour = self.state.queue.popleft() if self.state.queue else None
            if behaviour is None:
                self.state.errors.append(f"script exhausted at request #{len(self.state.requests)}: {req.path}")
        if behaviour is None:
            # x-should-retry: false keeps the client from hammering an empty script.
            error = {"error": {"message": "script exhausted: the test scripted fewer replies", "type": "test"}}
            self._json(599, error, {"x-should-retry": "false"})
            return
        self._behave(req, behaviour)

    def _behave(self, req: Request, b: Behaviour) -> None:
        match b:
            case Reply():
                text = b.text(req) if callable(b.text) else b.text
                if req.streaming:
                    self._stream_reply(req, text, b)
                else:
                    self._json(200, self._completion(req, text, b.finish_reason))
            case Status():
                headers = {"Retry-After": f"{b.retry_after:g}"} if b.retry_after is not None else {}
                message = b.message or f"scripted status {b.code}"
                self._json(b.code, {"error": {"message": message, "type": "scripted", "code": b.code}}, headers)
            case Hang():
                if b.partial_text and req.streaming:
                    self._sse_start()
                    for piece in _pieces(b.partial_text, 4):
                        self._sse(self._chunk(req, {"content": piece}))
                self.state.closing.wait(b.seconds)
                self._drop()
            case CutStream():
                self._sse_start()
                self._sse(self._chunk(req, {"role": "assistant", "content": ""}))
                for piece in _pieces(b.partial_text, 4):
                    self._sse(self._chunk(req, {"content": piece}))
                if b.clean:
                    self._sse_end()
                    self.close_connection = True
                else:
                    self._drop()
            case BadJSON():
                if req.streaming:
                    self._sse_start()
                    self._sse('{"id": "chatcmpl-test", "choices": [{"delta": {"content": "半')
                    self._sse("[DONE]")
                    self._sse_end()
                else:
                    self._json(200, None, raw=b'{"id": "chatcmpl-test", "choices": [{"message": ')

    def _stream_reply(self, req: Request, text: str, b: Reply) -> None:
        self._sse_start()
        self._sse(self._chunk(req, {"role": "assistant", "content": ""}))
        for piece in _pieces(text, b.chunk_chars):
            if b.chunk_delay and self.state.closing.wait(b.chunk_delay):
                return self._drop()
            try:
                self._sse(self._chunk(req, {"content": piece}))
            except OSError:  # the client gave up
                return
        self._sse(self._chunk(req, {}, finish_reason=b.finish_reason))
        if ((req.body or {}).get("stream_options") or {}).get("include_usage"):
            self._sse({**self._chunk(req, {}), "choices": [], "usage": _usage(req, text)})
        self._sse("[DONE]")
        self._sse_end()

    @staticmethod
    def _chunk(req: Request, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": (req.body or {}).get("model", ""),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    @staticmethod
    def _completion(req: Request, text: str, finish_reason: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": (req.body or {}).get("model", ""),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}
            ],
            "usage": _usage(req, text),
        }


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), max(1, size))]


def _usage(req: Request, text: str) -> dict[str, int]:
    """Deterministic token counts (one per character) so tests can assert them."""
    prompt = sum(len(str(m.get("content", ""))) for m in req.messages)
    return {"prompt_tokens": prompt, "completion_tokens": len(text), "total_tokens": prompt + len(text)}


class OpenAIServer:
    """The server in a background thread; ``url`` is ``http://127.0.0.1:<port>`` (no ``/v1``)."""

    def __init__(self) -> None:
        self._state = _State()
        handler = type("ScriptedHandler", (_Handler,), {"state": self._state})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-test-server", daemon=True
        )

    def start(self) -> OpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def script(self, *behaviours: Behaviour) -> OpenAIServer:
        with self._state.lock:
            self._state.queue.extend(behaviours)
        return self

    @property
    def requests(self) -> list[Request]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def chat_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path.rstrip("/") == "/v1/chat/completions"]

    @property
    def errors(self) -> list[str]:
        with self._state.lock:
            return list(self._state.errors)

    @property
    def pending(self) -> list[Behaviour]:
        with self._state.lock:
            return list(self._state.queue)

    def problems(self) -> list[str]:
        """What the fixture fails on: exhausted-script requests and behaviours never consumed."""
        left = self.pending
        return self.errors + ([f"{len(left)} scripted behaviour(s) never used: {left}"] if left else [])
