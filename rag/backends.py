"""Vendor backends: sentence-transformers for embeddings, openai / langchain-openai for LLMs.

Each vendor library is imported lazily inside the function that needs it, so importing ``rag``
stays cheap and a missing optional dependency fails with the exact install command.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.settings import DEFAULT_EMBEDDING_MODEL, Settings

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

log = logging.getLogger(__name__)


class BackendUnavailable(RuntimeError):
    """A backend cannot be built; the message says how to fix it."""


def _require(module: str, install: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendUnavailable(f"缺少依赖 {module}，请运行：{install}") from exc


def resolve_embedding_model(settings: Settings) -> str:
    """The path (or hub id) sentence-transformers should load."""
    if settings.embedding_model == DEFAULT_EMBEDDING_MODEL:
        from rag.e5convert import ensure_default_model

        return str(ensure_default_model(settings.data_dir))
    path = Path(settings.embedding_model).expanduser()
    return str(path) if path.exists() else settings.embedding_model


class Embedder(Embeddings):
    """sentence-transformers behind LangChain's ``Embeddings`` interface.

    Uses the model's own ``query`` / ``passage`` prompts when it defines them (the e5 family needs
    ``query: `` and ``passage: ``); vectors are L2-normalised, so cosine equals the dot product.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.embedding_model
        self.calls = 0  # encode calls, for the ingest ledger's "zero embeddings" promise
        self.texts_encoded = 0
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                self._model = self._load()
        return self._model

    def _load(self):
        st = _require("sentence_transformers", "pip install sentence-transformers==6.2.0")
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        if self.settings.embedding_threads:
            import torch

            torch.set_num_threads(self.settings.embedding_threads)
        target = resolve_embedding_model(self.settings)
        offline = Path(target).exists()
        if offline:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        log.info("loading embedding model %s", target)
        return st.SentenceTransformer(target, device="cpu", local_files_only=offline)

    def _prompt(self, name: str) -> str | None:
        prompts = getattr(self.model, "prompts", None) or {}
        return name if name in prompts else None

    @property
    def max_tokens(self) -> int:
        return int(getattr(self.model, "max_seq_length", 512) or 512)

    def count_tokens(self, text: str) -> int:
        """Tokens the embedding model sees for ``text`` (without its prompt)."""
        return len(self.model.tokenizer(text, add_special_tokens=True)["input_ids"])

    def encode(self, texts: list[str], kind: str = "passage", batch_size: int | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.calls += 1
        self.texts_encoded += len(texts)
        vectors = self.model.encode(
            list(texts),
            prompt_name=self._prompt(kind),
            batch_size=batch_size or self.settings.embedding_batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    @property
    def dimension(self) -> int:
        dim = self.model.get_sentence_embedding_dimension()
        return int(dim or 384)

    # LangChain Embeddings interface
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts, "passage").tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text], "query")[0].tolist()


def make_openai_client(
    settings: Settings, *, asynchronous: bool = False, on_request: Callable[[Any], None] | None = None
):
    """The raw OpenAI-compatible client for the configured endpoint.

    Explicit timeouts (connect ≤ 5 s, read/write = ``llm_timeout_s``) instead of the SDK's 10-minute
    default; ``llm_max_retries`` retries on connection errors, 408/409/429 and 5xx, honouring
    Retry-After. Only this endpoint's own settings go over the wire: the key is ``llm_api_key``
    (a placeholder when empty, never ``OPENAI_API_KEY``), and ``OPENAI_ORG_ID`` /
    ``OPENAI_PROJECT_ID`` from the environment are not sent. ``on_request`` runs before every
    HTTP request, retries included (sync client only); raising there aborts the call.
    """
    openai = _require("openai", "pip install openai")

    timeout = openai.Timeout(settings.llm_timeout_s, connect=min(5.0, settings.llm_timeout_s))
    params: dict[str, Any] = {
        "base_url": settings.llm_base_url,
        "api_key": settings.llm_api_key.get_secret_value() or "not-needed",
        "timeout": timeout,
        "max_retries": settings.llm_max_retries,
        "default_headers": {"OpenAI-Organization": openai.Omit(), "OpenAI-Project": openai.Omit()},
    }
    if asynchronous:
        return openai.AsyncOpenAI(**params, http_client=openai.DefaultAsyncHttpxClient(timeout=timeout))
    hooks = {"request": [on_request]} if on_request else {}
    return openai.OpenAI(**params, http_client=openai.DefaultHttpxClient(timeout=timeout, event_hooks=hooks))


def make_chat_model(settings: Settings, *, on_request: Callable[[Any], None] | None = None) -> BaseChatModel:
    """A LangChain chat model for the configured OpenAI-compatible endpoint.

    It runs on our own clients (:func:`make_openai_client`), so the timeouts, retries and headers
    above hold, and the key is the one configured for this endpoint: OPENAI_API_KEY from the
    environment is never sent to a configured base URL. The output cap goes out as
    ``llm_max_tokens_field`` (``max_tokens`` by default: LangChain would rename it to
    ``max_completion_tokens``, which many OpenAI-compatible servers ignore).
    """
    if not settings.llm_configured:
        raise BackendUnavailable("未配置大模型接口（XS_LLM_BASE_URL 与 XS_LLM_MODEL），将使用离线引擎。")
    lc_openai = _require("langchain_openai", "pip install langchain-openai")
    sync_client = make_openai_client(settings, on_request=on_request)
    async_client = make_openai_client(settings, asynchronous=True)
    cap = {settings.llm_max_tokens_field: settings.llm_max_tokens}
    return lc_openai.ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value() or "not-needed",
        root_client=sync_client,
        client=sync_client.chat.completions,
        root_async_client=async_client,
        async_client=async_client.chat.completions,
        timeout=sync_client.timeout,
        max_retries=settings.llm_max_retries,
        temperature=settings.llm_temperature,
        extra_body=cap,
        stream_usage=True,
    )
