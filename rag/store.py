"""The vector store: Chroma, embedded (PersistentClient) or a server (HttpClient).

This is the only module that imports ``chromadb``. Embeddings are always computed by our own
:class:`rag.backends.Embedder` and handed to Chroma explicitly; the collection is created with an
explicit embedding function so Chroma never falls back to its default (which downloads a model).
Embedded Chroma is not process-safe: writers take :class:`WriterLock` first.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.settings import Settings


class StoreLocked(RuntimeError):
    pass


class WriterLock:
    """One writer per store: a non-blocking ``flock`` that fails at once with who holds it."""

    def __init__(self, store_dir: Path) -> None:
        self.path = store_dir / "writer.lock"
        self._fd: int | None = None

    def acquire(self) -> WriterLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "未知"
            os.close(fd)
            raise StoreLocked(
                f"知识库 {self.path.parent} 正被另一个进程写入（PID {holder}）。"
                "请等它结束后再试；嵌入式 Chroma 同一时间只允许一个写入进程。"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _embedding_function_class():
    from chromadb.api.types import Documents, EmbeddingFunction

    class XiansuoEmbeddingFunction(EmbeddingFunction[Documents]):
        """Chroma-facing adapter over our embedder (passages for ``__call__``, queries for queries)."""

        def __init__(self, embedder: Any) -> None:
            self.embedder = embedder

        def __call__(self, input: Documents) -> list[np.ndarray]:
            return list(self.embedder.encode(list(input), "passage"))

        def embed_query(self, input: Documents) -> list[np.ndarray]:
            return list(self.embedder.encode(list(input), "query"))

        @staticmethod
        def name() -> str:
            return "xiansuo"

        def get_config(self) -> dict[str, Any]:
            return {"model": str(getattr(self.embedder, "name", ""))}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> XiansuoEmbeddingFunction:
            raise RuntimeError("xiansuo embedding function is built by the application, not from config")

        def default_space(self) -> str:
            return "cosine"

    return XiansuoEmbeddingFunction


class VectorStore:
    """Chunks with vectors and metadata in one Chroma collection."""

    def __init__(self, settings: Settings, embedder: Any) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if settings.chroma_mode == "http":
            self.client = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        else:
            path = settings.store_dir / "chroma"
            path.mkdir(parents=True, exist_ok=True)
            self.client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        self.embedder = embedder
        self.collection = self.client.get_or_create_collection(
            name=settings.collection,
            embedding_function=_embedding_function_class()(embedder),
            metadata={"hnsw:space": "cosine", "embedding_model": str(embedder.name)},
        )

    def count(self) -> int:
        return self.collection.count()

    def upsert(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
        embeddings: np.ndarray,
        batch: int = 1000,
    ) -> None:
        for i in range(0, len(ids), batch):
            self.collection.upsert(
                ids=list(ids[i : i + batch]),
                documents=list(texts[i : i + batch]),
                metadatas=[dict(m) for m in metadatas[i : i + batch]],
                embeddings=embeddings[i : i + batch],
            )

    def delete(self, ids: Iterable[str], batch: int = 1000) -> None:
        ids = list(ids)
        for i in range(0, len(ids), batch):
            self.collection.delete(ids=ids[i : i + batch])

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[dict[str, Any]], batch: int = 1000) -> None:
        """New metadata for chunks the store already holds (their vectors stay)."""
        for i in range(0, len(ids), batch):
            self.collection.update(ids=list(ids[i : i + batch]), metadatas=[dict(m) for m in metadatas[i : i + batch]])

    def existing(self, ids: Sequence[str], batch: int = 1000) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), batch):
            found.update(self.collection.get(ids=list(ids[i : i + batch]), include=[])["ids"])
        return found

    def all_ids(self, page: int = 10_000) -> set[str]:
        ids: set[str] = set()
        offset = 0
        while True:
            got = self.collection.get(include=[], limit=page, offset=offset)["ids"]
            ids.update(got)
            if len(got) < page:
                return ids
            offset += page

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """Nearest chunks by cosine similarity: (chunk_id, similarity), best first."""
        n = self.count()
        if n == 0:
            return []
        res = self.collection.query(
            query_embeddings=[vector], n_results=min(k, n), where=where or None, include=["distances"]
        )
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0])]

    def as_langchain(self):
        """The same collection as a LangChain ``Chroma`` vector store, for users' own chains."""
        from langchain_chroma import Chroma

        return Chroma(client=self.client, collection_name=self.collection.name, embedding_function=self.embedder)
