"""Test doubles that record what they receive and fail loudly when misused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np

from rag.llm import LLMError, LLMReply
from rag.keyword import tokenize


class HashEmbedder:
    """A deterministic bag-of-n-grams embedder: fast, no model, similar texts get similar vectors.

    Counts every encode call and every text, so tests can prove that re-ingesting computes nothing.
    """

    def __init__(self, dim: int = 256) -> None:
        self.name = "hash-embedder"
        self.dimension = dim
        self.max_tokens = 512
        self.calls = 0
        self.texts_encoded = 0
        self.seen: list[tuple[str, str]] = []  # (kind, text)

    def encode(self, texts: list[str], kind: str = "passage", batch_size: int | None = None) -> np.ndarray:
        if kind not in ("passage", "query"):
            raise AssertionError(f"unknown embedding kind {kind!r}")
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            self.seen.append((kind, text))
            for tok in tokenize(text):
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dimension] += 1.0
            norm = np.linalg.norm(out[i])
            if norm:
                out[i] /= norm
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts, "passage").tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text], "query")[0].tolist()


class FakeLLM:
    """Scripted chat backend: replies come from a queue; every request is recorded.

    Raises when the queue runs dry (it never cycles), so a test cannot pass by accident.
    A scripted item may be a string, an exception instance (raised), or a callable taking the
    messages and returning a string.
    """

    def __init__(self, *replies: object, name: str = "fake:scripted") -> None:
        self.name = name
        self.replies = list(replies)
        self.received: list[list[dict[str, str]]] = []

    def _next(self, messages: list[dict[str, str]]) -> str:
        self.received.append(messages)
        if not self.replies:
            raise AssertionError(f"FakeLLM script exhausted after {len(self.received) - 1} replies")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply(messages) if callable(reply) else str(reply)

    def complete(self, messages: list[dict[str, str]]) -> LLMReply:
        return LLMReply(self._next(messages), self.name, prompt_tokens=10, completion_tokens=5)

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        text = self._next(messages)
        for i in range(0, len(text), 7):
            yield text[i : i + 7]

    def assert_done(self) -> None:
        assert not self.replies, f"FakeLLM has {len(self.replies)} unused scripted replies"


__all__ = ["FakeLLM", "HashEmbedder", "LLMError"]
