"""The ledger: a SQLite record of every document, chunk and identifier in the store.

It is the source of truth that the vector store and the keyword index are checked against:
re-ingesting an unchanged document is a fingerprint comparison here, a crash mid-way leaves
documents in state ``pending`` for the next run to finish, and ``generation`` tells the keyword
index whether it is stale. The ``files`` table remembers each source file's sha256 and the
documents it gave, so an unchanged file (a scanned PDF, a screenshot) is not even parsed again.
Only documents in state ``done`` are visible to readers (search, the keyword index, listings).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.documents import Chunk, Document

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, state TEXT NOT NULL,
    kind TEXT, title TEXT, label TEXT, date TEXT, access TEXT, source TEXT,
    metadata TEXT, text TEXT, n_chunks INTEGER, updated_at REAL);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, seq INTEGER, text TEXT, context TEXT,
    tokens INTEGER, metadata TEXT);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS identifiers (
    chunk_id TEXT NOT NULL, doc_id TEXT NOT NULL, type TEXT NOT NULL, normalized TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS identifiers_value ON identifiers(normalized);
CREATE INDEX IF NOT EXISTS identifiers_doc ON identifiers(doc_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, sha256 TEXT NOT NULL, options TEXT NOT NULL, doc_ids TEXT NOT NULL, updated_at REAL);
"""


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self.db.executescript(SCHEMA)

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # -- documents ---------------------------------------------------------------------------
    def fingerprint(self, doc_id: str) -> tuple[str, str] | None:
        row = self.db.execute("SELECT fingerprint, state FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return (row["fingerprint"], row["state"]) if row else None

    def chunk_ids(self, doc_id: str) -> list[str]:
        rows = self.db.execute("SELECT chunk_id FROM chunks WHERE doc_id=? ORDER BY seq", (doc_id,))
        return [r["chunk_id"] for r in rows]

    def stage(self, doc: Document, chunks: list[Chunk], identifiers: Iterable[tuple[str, str, str]]) -> None:
        """Replace a document's rows with its new chunks, marked pending until the store agrees."""
        self.stage_many([(doc, chunks, list(identifiers))])

    def stage_many(self, items: Iterable[tuple[Document, list[Chunk], list[tuple[str, str, str]]]]) -> None:
        """:meth:`stage` for several documents in one transaction."""
        with self.tx() as db:
            for doc, chunks, identifiers in items:
                meta = doc.chunk_metadata()
                db.execute("DELETE FROM chunks WHERE doc_id=?", (doc.doc_id,))
                db.execute("DELETE FROM identifiers WHERE doc_id=?", (doc.doc_id,))
                db.execute(
                    "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (doc.doc_id, doc.fingerprint, "pending", doc.kind, doc.title, meta["label"], meta["date"],
                     meta["access"], meta["source"], json.dumps(doc.metadata, ensure_ascii=False, default=str),
                     doc.text, len(chunks), time.time()),
                )
                db.executemany(
                    "INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?)",
                    [(c.chunk_id, c.doc_id, c.seq, c.text, c.context, c.tokens,
                      json.dumps(c.metadata, ensure_ascii=False)) for c in chunks],
                )
                db.executemany(
                    "INSERT INTO identifiers VALUES (?,?,?,?)",
                    [(cid, doc.doc_id, typ, norm) for cid, typ, norm in identifiers],
                )
            self._bump(db)

    def mark_done(self, doc_ids: Iterable[str]) -> None:
        """The store now agrees with these documents' rows: make them visible to readers."""
        with self.tx() as db:
            db.executemany("UPDATE documents SET state='done' WHERE doc_id=?", [(d,) for d in doc_ids])
            self._bump(db)  # the set of visible chunks changed

    def delete_documents(self, doc_ids: Iterable[str]) -> list[str]:
        """Remove documents; returns their chunk ids so the caller can drop them from the store."""
        removed: list[str] = []
        with self.tx() as db:
            for doc_id in doc_ids:
                removed += [r[0] for r in db.execute("SELECT chunk_id FROM chunks WHERE doc_id=?", (doc_id,))]
                for table in ("chunks", "identifiers", "documents"):
                    db.execute(f"DELETE FROM {table} WHERE doc_id=?", (doc_id,))
            self._bump(db)
        return removed

    def states(self, doc_ids: Iterable[str]) -> dict[str, tuple[str, str, int]]:
        """doc_id -> (fingerprint, state, n_chunks) for those of ``doc_ids`` the ledger knows."""
        ids = list(doc_ids)
        out: dict[str, tuple[str, str, int]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            q = f"SELECT doc_id, fingerprint, state, n_chunks FROM documents WHERE doc_id IN ({','.join('?' * len(part))})"
            for r in self.db.execute(q, part):
                out[r[0]] = (r[1], r[2], int(r[3] or 0))
        return out

    def pending(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT doc_id FROM documents WHERE state='pending'")]

    def doc_ids_by_source(self, source: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT doc_id FROM documents WHERE source=?", (source,))]

    def document(self, doc_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["metadata"] = json.loads(out["metadata"] or "{}")
        return out

    def documents(self, kind: str | None = None, label: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM documents WHERE state='done'", []
        if kind:
            sql, args = sql + " AND kind=?", [*args, kind]
        if label:
            sql, args = sql + " AND label=?", [*args, label]
        rows = self.db.execute(sql + " ORDER BY doc_id", args).fetchall()
        return [{**dict(r), "metadata": json.loads(r["metadata"] or "{}")} for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT kind, COUNT(*) FROM documents WHERE state='done' GROUP BY kind")
        return {r[0]: r[1] for r in rows}

    def kind_counts(self) -> dict[str, tuple[int, int]]:
        """kind -> (documents, chunks) over finished documents."""
        rows = self.db.execute("SELECT kind, COUNT(*), COALESCE(SUM(n_chunks), 0) FROM documents "
                               "WHERE state='done' GROUP BY kind ORDER BY kind")
        return {r[0]: (int(r[1]), int(r[2])) for r in rows}

    def sources(self) -> dict[str, list[str]]:
        """source -> doc ids, over every document the ledger knows."""
        out: dict[str, list[str]] = {}
        for doc_id, source in self.db.execute("SELECT doc_id, source FROM documents ORDER BY doc_id"):
            out.setdefault(source or "", []).append(doc_id)
        return out

    # -- chunks ------------------------------------------------------------------------------
    def all_chunks(self) -> list[tuple[str, str, str]]:
        """(chunk_id, context, text) of every chunk of every finished document, in a stable order."""
        rows = self.db.execute(
            "SELECT c.chunk_id, c.context, c.text FROM chunks c JOIN documents d USING(doc_id) "
            "WHERE d.state='done' ORDER BY c.doc_id, c.seq"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def chunks(self, chunk_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(chunk_ids)
        out: dict[str, dict[str, Any]] = {}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            q = f"SELECT * FROM chunks WHERE chunk_id IN ({','.join('?' * len(part))})"
            for r in self.db.execute(q, part):
                out[r["chunk_id"]] = {**dict(r), "metadata": json.loads(r["metadata"] or "{}")}
        return out

    def chunks_of(self, doc_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM chunks WHERE doc_id=? ORDER BY seq", (doc_id,))
        return [{**dict(r), "metadata": json.loads(r["metadata"] or "{}")} for r in rows]

    def chunk_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def done_chunk_ids(self) -> set[str]:
        """Ids of the chunks of every finished document (what the vector store must hold)."""
        rows = self.db.execute("SELECT c.chunk_id FROM chunks c JOIN documents d USING(doc_id) WHERE d.state='done'")
        return {r[0] for r in rows}

    # -- identifiers -------------------------------------------------------------------------
    def chunks_with_identifier(self, normalized: Iterable[str]) -> dict[str, set[str]]:
        """chunk_id -> the given normalized identifiers it contains."""
        values = list(set(normalized))
        out: dict[str, set[str]] = {}
        if not values:
            return out
        q = ("SELECT i.chunk_id, i.normalized FROM identifiers i JOIN documents d USING(doc_id) "
             f"WHERE d.state='done' AND i.normalized IN ({','.join('?' * len(values))})")
        for cid, norm in self.db.execute(q, values):
            out.setdefault(cid, set()).add(norm)
        return out

    def identifiers_of(self, doc_id: str) -> list[tuple[str, str]]:
        rows = self.db.execute("SELECT DISTINCT type, normalized FROM identifiers WHERE doc_id=?", (doc_id,))
        return [(r[0], r[1]) for r in rows]

    # -- files: what each source file gave last time -------------------------------------------
    def file_record(self, path: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM files WHERE path=?", (path,)).fetchone()
        if row is None:
            return None
        return {**dict(row), "doc_ids": json.loads(row["doc_ids"])}

    def record_files(self, records: Iterable[tuple[str, str, str, list[str]]]) -> None:
        """(path, sha256, options key, doc ids) of files whose documents are all written."""
        now = time.time()
        with self.tx() as db:
            db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?)",
                           [(p, sha, opts, json.dumps(ids, ensure_ascii=False), now) for p, sha, opts, ids in records])

    def files(self) -> dict[str, str]:
        """path -> the options key each recorded file was last read with."""
        return {r[0]: r[1] for r in self.db.execute("SELECT path, options FROM files")}

    def forget_files(self, paths: Iterable[str]) -> None:
        with self.tx() as db:
            db.executemany("DELETE FROM files WHERE path=?", [(p,) for p in paths])

    # -- small key/value state ---------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str | None) -> None:
        with self.tx() as db:
            if value is None:
                db.execute("DELETE FROM meta WHERE key=?", (key,))
            else:
                db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- generation: bumps on every change, so derived indexes know when they are stale ---------
    def _bump(self, db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) DO UPDATE "
            "SET value = CAST(value AS INTEGER) + 1"
        )

    @property
    def generation(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0
