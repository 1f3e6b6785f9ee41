"""The knowledge base: ledger + vector store + keyword index kept in agreement.

One writer at a time (:meth:`KnowledgeBase.writer`, a :class:`rag.store.WriterLock`). The write path
is :meth:`write_documents` then :meth:`finish`; :meth:`add_documents` does both under the lock.
Per batch of documents it

1. stages the new chunk rows in the ledger as ``pending`` (one transaction; readers do not see them),
2. embeds only the chunks the vector store does not already hold, upserts them, refreshes the
   metadata of those it holds, and drops the documents' stale chunks from the store,
3. marks the documents ``done``.

A crash anywhere leaves ``pending`` rows that the next run finishes (from the re-supplied document,
or from the ledger's own rows when it is not re-supplied), and a ``dirty`` mark that makes
:meth:`finish` reconcile: every vector the ledger does not know is removed, every chunk it knows but
the store lacks is embedded. The keyword index is rebuilt from the ledger whenever the ledger's
generation moved; its generation marker is written atomically after it, so a torn rebuild is
simply redone. Named checkpoints (``XS_TEST_KILL_AT``) let the tests kill the process at each step.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.chunking import chunk_document
from rag.documents import Chunk, Document
from rag.keyword import KeywordIndex
from rag.ledger import Ledger
from rag.settings import Settings
from rag.store import StoreLocked, VectorStore, WriterLock

log = logging.getLogger(__name__)
Progress = Callable[[int, int, str], None]  # (done, total, message)
DEFAULT_BATCH_CHUNKS = 1024  # chunks staged, embedded and stored together (one ledger commit)
ENCODE_SLICE = 256  # chunks per encode call within a batch, when progress is reported


@dataclass
class IngestStats:
    documents: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_added: int = 0  # new chunks, embedded now
    chunks_kept: int = 0  # chunks of changed documents whose vectors were reused (same text)
    chunks_unchanged: int = 0  # chunks of unchanged documents
    chunks_embedded: int = 0
    chunks_removed: int = 0
    files: int = 0  # files read or found unchanged
    files_unchanged: int = 0  # files whose content and options match the ledger: not parsed again
    files_skipped: int = 0  # files of unsupported types passed over while walking directories
    seconds: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (source, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (source, reason): loaded in part

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_embedded / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.warnings


def chunk_identifiers(chunks: list[Chunk]) -> list[tuple[str, str, str]]:
    """(chunk_id, type, normalized) for every identifier found in the chunks' text."""
    from rag.entities import extract

    seen: set[tuple[str, str, str]] = set()
    for c in chunks:
        for e in extract(c.text):
            if e.type not in ("amount", "date"):
                seen.add((c.chunk_id, e.type, e.normalized))
    return sorted(seen)


def checkpoint(name: str) -> None:
    """Test hooks at the named steps of a write, read from the environment (all off when unset):

    ``XS_TEST_KILL_AT=name[:n]`` SIGKILLs this process the n-th time it passes ``name``;
    ``XS_TEST_PAUSE_AT=name`` sleeps there (a minute), holding whatever the writer holds;
    ``XS_TEST_TRACE=1`` prints ``checkpoint <name>`` on stderr at every step (pausing always does),
    so a test can act at a moment of its choosing.
    """
    kill, pause, trace = (os.environ.get(k) for k in ("XS_TEST_KILL_AT", "XS_TEST_PAUSE_AT", "XS_TEST_TRACE"))
    if not (kill or pause or trace):
        return
    seen = _checkpoint_counts[name] = _checkpoint_counts.get(name, 0) + 1
    if trace or pause == name:
        print(f"checkpoint {name}", file=sys.stderr, flush=True)
    if pause == name:
        time.sleep(60)
    if kill:
        want, _, nth = kill.partition(":")
        if want == name and seen >= int(nth or 1):
            os.kill(os.getpid(), signal.SIGKILL)


_checkpoint_counts: dict[str, int] = {}


class KnowledgeBase:
    def __init__(self, settings: Settings, embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        settings.store_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger(settings.store_dir / "ledger.sqlite3")
        self.vectors = VectorStore(settings, embedder)
        self.keywords = KeywordIndex(settings.store_dir / "keyword")
        self._keyword_generation = -1
        self._token_limit: tuple[Callable[[str], int] | None, int] | None = None

    def writer(self) -> WriterLock:
        """The store's writer lock (``with kb.writer(): …``); a second writer is refused at once."""
        return WriterLock(self.settings.store_dir)

    # -- reading -----------------------------------------------------------------------------
    def keyword_index(self) -> KeywordIndex:
        """The keyword index, rebuilt from the ledger if it is behind."""
        gen = self.ledger.generation
        if self._keyword_generation == gen:
            return self.keywords
        if self.keywords.load() and self._saved_keyword_generation() == gen:
            self._keyword_generation = gen
            return self.keywords
        try:  # only the writer saves the index; a reader behind a running writer builds its own copy
            with self.writer():
                self.rebuild_keywords()
        except StoreLocked:
            self.rebuild_keywords(save=False)
        return self.keywords

    def _saved_keyword_generation(self) -> int | None:
        try:
            return int((self.keywords.directory / "generation").read_text().strip())
        except (OSError, ValueError):
            return None

    def rebuild_keywords(self, save: bool = True) -> None:
        gen = self.ledger.generation
        rows = self.ledger.all_chunks()
        self.keywords.build([r[0] for r in rows], [f"{r[1]}\n{r[2]}" for r in rows])
        if not save:
            self._keyword_generation = gen
            return
        self.keywords.save()
        checkpoint("keywords_saved")
        marker = self.keywords.directory / "generation"
        tmp = marker.with_name("generation.tmp")
        tmp.write_text(str(gen))
        os.replace(tmp, marker)
        self._keyword_generation = gen

    def is_empty(self) -> bool:
        return self.ledger.chunk_count() == 0

    # -- writing -----------------------------------------------------------------------------
    def add_documents(
        self,
        docs: Iterable[Document],
        progress: Progress | None = None,
        total: int = 0,
        batch_chunks: int = DEFAULT_BATCH_CHUNKS,
        lock: bool = True,
    ) -> IngestStats:
        """Write ``docs`` and bring the store into agreement (the one-call form)."""
        stats = IngestStats()
        start = time.perf_counter()
        guard = self.writer().acquire() if lock else None
        try:
            self.write_documents(docs, stats, progress, total, batch_chunks)
            self.finish(stats)
        finally:
            if guard:
                guard.release()
        stats.seconds = time.perf_counter() - start
        return stats

    def write_documents(
        self,
        docs: Iterable[Document],
        stats: IngestStats,
        progress: Progress | None = None,
        total: int = 0,
        batch_chunks: int = DEFAULT_BATCH_CHUNKS,
    ) -> None:
        """Stage, embed and store ``docs`` in batches; the caller holds the writer lock and calls
        :meth:`finish` afterwards. Unchanged documents cost one ledger lookup and nothing else.

        ``progress(done, total, doc_id)`` counts documents: unchanged ones at once, changed ones as
        their batch is embedded (reported every ``ENCODE_SLICE`` chunks).
        """
        retry = set(self.ledger.pending())
        lookup: list[Document] = []
        pending: list[tuple[Document, list[Chunk]]] = []
        pending_chunks = 0
        done = 0

        def report(n: float, doc_id: str) -> None:
            if progress:
                progress(min(int(n), max(total, stats.documents)), max(total, stats.documents), doc_id)

        def look_up() -> None:
            nonlocal pending_chunks, done
            states = self.ledger.states(d.doc_id for d in lookup)
            for doc in lookup:
                known = states.get(doc.doc_id)
                if known and known[:2] == (doc.fingerprint, "done") and doc.doc_id not in retry:
                    stats.unchanged += 1
                    stats.chunks_unchanged += known[2]
                    done += 1
                    report(done, doc.doc_id)
                    continue
                if known:
                    stats.replaced += 1
                else:
                    stats.added += 1
                chunks = self.chunk(doc)
                pending.append((doc, chunks))
                pending_chunks += len(chunks)
            lookup.clear()

        def write(final: bool = False) -> None:
            """Write whole batches of about ``batch_chunks`` chunks (and, at the end, the rest)."""
            nonlocal pending_chunks, done
            while pending and (final or pending_chunks >= batch_chunks):
                size, n_docs = 0, 0
                while n_docs < len(pending) and (n_docs == 0 or size + len(pending[n_docs][1]) <= batch_chunks):
                    size += len(pending[n_docs][1])
                    n_docs += 1
                batch = pending[:n_docs]
                del pending[:n_docs]
                pending_chunks -= size
                base, last = done, batch[-1][0].doc_id
                self._write(batch, stats, lambda frac: report(base + frac * n_docs, last))
                done += n_docs
                report(done, last)

        for doc in docs:
            stats.documents += 1
            lookup.append(doc)
            if len(lookup) >= 64:
                look_up()
                write()
        look_up()
        write(final=True)

    def finish(self, stats: IngestStats | None = None) -> None:
        """After writes (or a crash): finish pending documents, reconcile the vector store with the
        ledger when anything may disagree, rebuild the keyword index when the ledger moved."""
        if self.ledger.pending():  # left by a crash and not re-supplied in this run
            self._finish_orphan_pending(stats)
        if self.ledger.get_meta("dirty"):
            removed, reembedded = self.reconcile()
            if removed or reembedded:
                log.info("reconciled the vector store: %d removed, %d re-embedded", removed, reembedded)
            checkpoint("reconciled")
        if self._saved_keyword_generation() != self.ledger.generation or not (self.keywords.directory / "ids.json").exists():
            self.rebuild_keywords()
        self.ledger.set_meta("dirty", None)

    def chunk(self, doc: Document) -> list[Chunk]:
        counter, limit = self.token_limit()
        return chunk_document(doc, self.settings.chunk_chars, self.settings.chunk_overlap_chars,
                              count_tokens=self._count_tokens, embed_tokens=counter, max_embed_tokens=limit)

    def token_limit(self) -> tuple[Callable[[str], int] | None, int]:
        """(the embedding model's token counter, the tokens a chunk's text may use), found once.

        The limit is the model's sequence length less what its passage prompt adds.
        """
        if self._token_limit is None:
            counter = getattr(self.embedder, "count_tokens", None)
            limit = int(getattr(self.embedder, "max_tokens", 512) or 512)
            if counter is not None:
                model = getattr(self.embedder, "model", None)
                prompt = (getattr(model, "prompts", None) or {}).get("passage", "")
                if prompt:
                    limit -= max(0, counter(prompt) - counter(""))
            self._token_limit = (counter, limit)
        return self._token_limit

    def _count_tokens(self, text: str) -> int:
        from rag.tokens import count_tokens

        return count_tokens(text, self.settings.token_encoding)

    def _write(self, batch: list[tuple[Document, list[Chunk]]], stats: IngestStats,
               on_progress: Callable[[float], None] | None = None) -> None:
        self.ledger.set_meta("dirty", "1")  # until finish() has checked the store against the ledger
        old = {doc.doc_id: self.ledger.chunk_ids(doc.doc_id) for doc, _ in batch}
        self.ledger.stage_many([(doc, chunks, chunk_identifiers(chunks)) for doc, chunks in batch])
        checkpoint("staged")
        chunks = [c for _, cs in batch for c in cs]
        present = self.vectors.existing([c.chunk_id for c in chunks])
        fresh = [c for c in chunks if c.chunk_id not in present]
        if fresh:
            vectors = self.encode([c.embed_text for c in fresh], on_progress)
            checkpoint("embedded")
            self.vectors.upsert([c.chunk_id for c in fresh], [c.text for c in fresh],
                                [c.metadata for c in fresh], vectors)
            stats.chunks_embedded += len(fresh)
        checkpoint("upserted")
        kept = [c for c in chunks if c.chunk_id in present]
        if kept:  # same text, maybe new metadata: refresh metadata without re-embedding
            self.vectors.update_metadata([c.chunk_id for c in kept], [c.metadata for c in kept])
        stats.chunks_added += len(fresh)
        stats.chunks_kept += len(kept)
        new_ids = {c.chunk_id for c in chunks}
        stale = [cid for ids in old.values() for cid in ids if cid not in new_ids]
        if stale:
            self.vectors.delete(stale)
            stats.chunks_removed += len(stale)
        checkpoint("stale_deleted")
        self.ledger.mark_done(doc.doc_id for doc, _ in batch)
        checkpoint("marked_done")

    def encode(self, texts: list[str], on_progress: Callable[[float], None] | None = None) -> np.ndarray:
        """Passage vectors for ``texts``, in order.

        Texts are sorted longest first (as sentence-transformers does within one call) and encoded in
        slices of ``ENCODE_SLICE``, a multiple of the model's batch size: the padded batches are the
        very ones a single call would make, and progress can be reported between slices.
        """
        size = self.settings.embedding_batch_size
        step = size * max(1, ENCODE_SLICE // size)
        if on_progress is None or len(texts) <= step:
            return self.embedder.encode(texts, "passage")
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        parts = []
        for start in range(0, len(order), step):
            idx = order[start : start + step]
            parts.append(self.embedder.encode([texts[i] for i in idx], "passage"))
            on_progress(min(1.0, (start + len(idx)) / len(texts)))
        out = np.empty((len(texts), parts[0].shape[1]), dtype=parts[0].dtype)
        out[order] = np.concatenate(parts)
        return out

    def _finish_orphan_pending(self, stats: IngestStats | None) -> None:
        """Documents left pending by a crash and not re-supplied: complete them from the ledger's rows."""
        for doc_id in self.ledger.pending():
            rows = self.ledger.chunks_of(doc_id)
            ids = [r["chunk_id"] for r in rows]
            present = self.vectors.existing(ids)
            fresh = [r for r in rows if r["chunk_id"] not in present]
            if fresh:
                texts = [f"{r['context']}\n{r['text']}" if r["context"] else r["text"] for r in fresh]
                self.vectors.upsert([r["chunk_id"] for r in fresh], [r["text"] for r in fresh],
                                    [r["metadata"] for r in fresh], self.embedder.encode(texts, "passage"))
                if stats:
                    stats.chunks_embedded += len(fresh)
            kept = [r for r in rows if r["chunk_id"] in present]
            if kept:
                self.vectors.update_metadata([r["chunk_id"] for r in kept], [r["metadata"] for r in kept])
            self.ledger.mark_done([doc_id])

    def reconcile(self) -> tuple[int, int]:
        """Make the vector store hold exactly the ledger's chunks; returns (removed, re-embedded)."""
        ledger_ids = self.ledger.done_chunk_ids()
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

    def delete_documents(self, doc_ids: Iterable[str], lock: bool = True, finish: bool = True) -> int:
        """Remove documents everywhere; returns how many chunks went."""
        guard = self.writer().acquire() if lock else None
        try:
            self.ledger.set_meta("dirty", "1")
            removed = self.ledger.delete_documents(doc_ids)
            checkpoint("deleted_from_ledger")
            self.vectors.delete(removed)
            if finish:
                self.finish()
        finally:
            if guard:
                guard.release()
        return len(removed)

    def agreement(self) -> dict[str, Any]:
        """How the three stores compare (for checks and the 知识库 tab): ids and counts."""
        ledger_ids = self.ledger.done_chunk_ids()
        store_ids = self.vectors.all_ids()
        keyword_ids = set(self.keyword_index().ids)
        return {
            "ledger": len(ledger_ids), "vectors": len(store_ids), "keywords": len(keyword_ids),
            "pending": len(self.ledger.pending()),
            "agree": ledger_ids == store_ids == keyword_ids,
        }
