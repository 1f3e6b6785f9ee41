"""The knowledge base: ledger + vector store + keyword index kept in agreement.

``KnowledgeBase.add_documents`` is the one write path. Per batch of documents it (1) stages the new
chunk rows in the ledger as ``pending``, (2) embeds only chunks the vector store does not already
hold and upserts them, (3) drops the document's stale chunks from the store, (4) marks the documents
``done``. A crash anywhere leaves ``pending`` rows that the next run finishes; ``reconcile`` then
removes any vector the ledger does not know. The keyword index is rebuilt from the ledger whenever
the ledger's generation moved.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from rag.chunking import chunk_document
from rag.documents import Chunk, Document
from rag.keyword import KeywordIndex
from rag.ledger import Ledger
from rag.settings import Settings
from rag.store import VectorStore, WriterLock

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]  # (done, total, message)


@dataclass
class IngestStats:
    documents: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_added: int = 0
    chunks_embedded: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_embedded / self.seconds if self.seconds > 0 else 0.0


def chunk_identifiers(chunks: list[Chunk]) -> list[tuple[str, str, str]]:
    """(chunk_id, type, normalized) for every identifier found in the chunks' text."""
    from rag.entities import extract

    seen: set[tuple[str, str, str]] = set()
    for c in chunks:
        for e in extract(c.text):
            if e.type not in ("amount", "date"):
                seen.add((c.chunk_id, e.type, e.normalized))
    return sorted(seen)


class KnowledgeBase:
    def __init__(self, settings: Settings, embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        settings.store_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(settings.store_dir / "ledger.sqlite3")
        self.vectors = VectorStore(settings, embedder)
        self.keywords = KeywordIndex(settings.store_dir / "keyword")
        self._keyword_generation = -1

    # -- reading -----------------------------------------------------------------------------
    def keyword_index(self) -> KeywordIndex:
        """The keyword index, rebuilt from the ledger if it is behind."""
        gen = self.ledger.generation
        if self._keyword_generation == gen:
            return self.keywords
        marker = self.keywords.directory / "generation"
        if self.keywords.load() and marker.exists() and int(marker.read_text()) == gen:
            self._keyword_generation = gen
            return self.keywords
        self.rebuild_keywords()
        return self.keywords

    def rebuild_keywords(self) -> None:
        gen = self.ledger.generation
        rows = self.ledger.all_chunks()
        self.keywords.build([r[0] for r in rows], [f"{r[1]}\n{r[2]}" for r in rows])
        self.keywords.save()
        (self.keywords.directory / "generation").write_text(str(gen))
        self._keyword_generation = gen

    def is_empty(self) -> bool:
        return self.ledger.chunk_count() == 0

    # -- writing -----------------------------------------------------------------------------
    def add_documents(
        self,
        docs: Iterable[Document],
        progress: Progress | None = None,
        total: int = 0,
        batch_chunks: int = 256,
        lock: bool = True,
    ) -> IngestStats:
        stats = IngestStats()
        start = time.perf_counter()
        guard = WriterLock(self.settings.store_dir) if lock else None
        if guard:
            guard.acquire()
        try:
            pending_docs: list[tuple[Document, list[Chunk], list[str]]] = []
            pending_chunks = 0
            retry = set(self.ledger.pending())
            for doc in docs:
                stats.documents += 1
                known = self.ledger.fingerprint(doc.doc_id)
                if known and known == (doc.fingerprint, "done") and doc.doc_id not in retry:
                    stats.unchanged += 1
                else:
                    if known:
                        stats.replaced += 1
                    else:
                        stats.added += 1
                    chunks = chunk_document(doc, self.settings.chunk_chars, self.settings.chunk_overlap_chars,
                                            count_tokens=self._count_tokens)
                    pending_docs.append((doc, chunks, self.ledger.chunk_ids(doc.doc_id)))
                    pending_chunks += len(chunks)
                if pending_chunks >= batch_chunks:
                    self._write(pending_docs, stats)
                    pending_docs, pending_chunks = [], 0
                if progress:
                    progress(stats.documents, total, doc.doc_id)
            if pending_docs:
                self._write(pending_docs, stats)
            if self.ledger.pending():  # pending rows whose documents were not in this input
                self._finish_orphan_pending()
            self.reconcile()
            self.rebuild_keywords()
        finally:
            if guard:
                guard.release()
        stats.seconds = time.perf_counter() - start
        return stats

    def _count_tokens(self, text: str) -> int:
        from rag.tokens import count_tokens

        return count_tokens(text, self.settings.token_encoding)

    def _write(self, batch: list[tuple[Document, list[Chunk], list[str]]], stats: IngestStats) -> None:
        for doc, chunks, _old in batch:
            self.ledger.stage(doc, chunks, chunk_identifiers(chunks))
        chunks = [c for _, cs, _ in batch for c in cs]
        present = self.vectors.existing([c.chunk_id for c in chunks])
        fresh = [c for c in chunks if c.chunk_id not in present]
        if fresh:
            vectors = self.embedder.encode([c.embed_text for c in fresh], "passage")
            self.vectors.upsert([c.chunk_id for c in fresh], [c.text for c in fresh],
                                [c.metadata for c in fresh], vectors)
            stats.chunks_embedded += len(fresh)
        kept = [c for c in chunks if c.chunk_id in present]
        if kept:  # same text, maybe new metadata: refresh metadata without re-embedding
            self.vectors.collection.update(ids=[c.chunk_id for c in kept], metadatas=[c.metadata for c in kept])
        stats.chunks_added += len(fresh)
        new_ids = {c.chunk_id for c in chunks}
        stale = [cid for _, _, old in batch for cid in old if cid not in new_ids]
        if stale:
            self.vectors.delete(stale)
            stats.chunks_removed += len(stale)
        self.ledger.mark_done(doc.doc_id for doc, _, _ in batch)

    def _finish_orphan_pending(self) -> None:
        """Documents left pending by a crash and not re-supplied: re-embed from the ledger's rows."""
        for doc_id in self.ledger.pending():
            doc = self.ledger.document(doc_id)
            if doc is None:
                continue
            rows = self.ledger.chunks_of(doc_id)
            present = self.vectors.existing([r["chunk_id"] for r in rows])
            fresh = [r for r in rows if r["chunk_id"] not in present]
            if fresh:
                texts = [f"{r['context']}\n{r['text']}" if r["context"] else r["text"] for r in fresh]
                self.vectors.upsert([r["chunk_id"] for r in fresh], [r["text"] for r in fresh],
                                    [r["metadata"] for r in fresh], self.embedder.encode(texts, "passage"))
            self.ledger.mark_done([doc_id])

    def reconcile(self) -> tuple[int, int]:
        """Make the vector store hold exactly the ledger's chunks; returns (removed, re-embedded)."""
        ledger_ids = {r[0] for r in self.ledger.all_chunks()}
        store_ids = self.vectors.all_ids()
        extra = store_ids - ledger_ids
        if extra:
            self.vectors.delete(sorted(extra))
        missing = sorted(ledger_ids - store_ids)
        if missing:
            rows = self.ledger.chunks(missing)
            ordered = [rows[c] for c in missing]
            texts = [f"{r['context']}\n{r['text']}" if r["context"] else r["text"] for r in ordered]
            self.vectors.upsert(missing, [r["text"] for r in ordered], [r["metadata"] for r in ordered],
                                self.embedder.encode(texts, "passage"))
        return len(extra), len(missing)

    def delete_documents(self, doc_ids: Iterable[str]) -> int:
        with WriterLock(self.settings.store_dir):
            removed = self.ledger.delete_documents(doc_ids)
            self.vectors.delete(removed)
            self.rebuild_keywords()
        return len(removed)

