"""Hybrid retrieval: dense (Chroma) + keyword (BM25) fused by reciprocal rank, plus exact
identifier lookup, with metadata filters applied on the server side of every list.

A query that names a phone number, WeChat id, ID or card number, or case number finds the chunks
that contain it through the ledger's identifier table, even where embeddings would miss it: those
chunks come first. The rest is weighted RRF over the dense and keyword rankings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever

from rag.documents import Hit
from rag.index import KnowledgeBase

Mode = Literal["hybrid", "dense", "keyword"]
_BARE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_\-]{5,19}|\d{5,19}|(?:case|reg|scr)-\d{3,4}", re.I)


@dataclass(frozen=True)
class Filters:
    kind: str | None = None
    label: str | None = None
    date_from: str | None = None  # inclusive, "YYYY-MM-DD" or a prefix such as "2024-03"
    date_to: str | None = None
    access: frozenset[str] | None = None  # allowed access levels; None = all
    doc_ids: frozenset[str] | None = None

    def where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.kind:
            clauses.append({"kind": self.kind})
        if self.label:
            clauses.append({"label": self.label})
        if self.access is not None:
            clauses.append({"access": {"$in": sorted(self.access)}})
        if self.doc_ids is not None:
            clauses.append({"doc_id": {"$in": sorted(self.doc_ids)}})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def accepts(self, meta: dict[str, Any]) -> bool:
        if self.kind and meta.get("kind") != self.kind:
            return False
        if self.label and meta.get("label") != self.label:
            return False
        if self.access is not None and (meta.get("access") or "public") not in self.access:
            return False
        if self.doc_ids is not None and meta.get("doc_id") not in self.doc_ids:
            return False
        date = str(meta.get("date") or "")
        if self.date_from and (not date or date < self.date_from):
            return False
        if self.date_to and (not date or date[: len(self.date_to)] > self.date_to):
            return False
        return True


@dataclass
class Weights:
    """RRF weights. Long queries (whole dialogues or complaints) lean on the keyword list: the
    embedding model truncates them at 512 tokens and sees one blurred topic, while BM25 matches
    their many specific terms. Chosen on a tuning split of fraud_news and checked on a disjoint
    300-query split: equal weights, k=60 gave Hit@10 0.763 / MRR@10 0.639; dense 0.3, k=10 gave
    0.850 / 0.740 (keyword alone 0.847 / 0.746). Short queries used equal weights until the corpus
    held hundreds of one-line complaints: the small embedding model puts a short question next to
    short texts of any topic, and on the team's retrieval set hit@1 fell to 0.77 (dense alone 0.60,
    keyword alone 0.83). Dense 0.3, the long-query value, gives 0.86 / MRR 0.899 there (0.7: 0.80,
    0.5: 0.82); it was chosen on that set, which is therefore no longer a blind check of it."""

    dense: float = 0.3
    keyword: float = 1.0
    long_query_chars: int = 200
    long_dense: float = 0.3
    long_rrf_k: int = 10

    def for_query(self, query: str, rrf_k: int) -> tuple[float, float, int]:
        if len(query) > self.long_query_chars:
            return self.long_dense, self.keyword, self.long_rrf_k
        return self.dense, self.keyword, rrf_k


def rrf(rankings: Iterable[tuple[list[str], float]], k: int = 60) -> dict[str, float]:
    """Weighted reciprocal-rank fusion of several ranked id lists."""
    fused: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, cid in enumerate(ids):
            fused[cid] = fused.get(cid, 0.0) + weight / (k + rank + 1)
    return fused


def query_identifiers(query: str) -> set[str]:
    """Normalized identifiers named in a query, with or without cue words."""
    from rag.entities import extract

    found = {e.normalized for e in extract(query) if e.type not in ("amount", "date")}
    found.update(m.group(0).lower() for m in _BARE_ID.finditer(query))
    found.update(m.group(0) for m in _BARE_ID.finditer(query))
    return found


class Retriever:
    def __init__(self, kb: KnowledgeBase, rrf_k: int = 60, candidates: int = 50,
                 weights: Weights | None = None) -> None:
        self.kb = kb
        self.rrf_k = rrf_k
        self.candidates = candidates
        self.weights = weights or Weights()
        self._meta_cache: tuple[int, list[dict[str, Any]]] | None = None

    def _metadata(self) -> list[dict[str, Any]]:
        """Chunk metadata aligned with the keyword index, cached per ledger generation."""
        index = self.kb.keyword_index()
        gen = self.kb.ledger.generation
        if self._meta_cache is None or self._meta_cache[0] != gen:
            rows = self.kb.ledger.chunks(index.ids)
            self._meta_cache = (gen, [rows[cid]["metadata"] for cid in index.ids])
        return self._meta_cache[1]

    def dense(self, query: str, n: int, filters: Filters) -> list[tuple[str, float]]:
        vector = self.kb.embedder.encode([query], "query")[0]
        hits = self.kb.vectors.query(vector, n * 2 if filters.date_from or filters.date_to else n, filters.where())
        if filters.date_from or filters.date_to:
            rows = self.kb.ledger.chunks(cid for cid, _ in hits)
            hits = [(c, s) for c, s in hits if c in rows and filters.accepts(rows[c]["metadata"])]
        return hits[:n]

    def keyword(self, query: str, n: int, filters: Filters) -> list[tuple[str, float]]:
        index = self.kb.keyword_index()
        allowed = None
        if filters != Filters():
            allowed = np.fromiter((filters.accepts(m) for m in self._metadata()), dtype=bool, count=len(index))
        return index.search(query, n, allowed)

    def exact(self, query: str, filters: Filters) -> list[tuple[str, float]]:
        matches = self.kb.ledger.chunks_with_identifier(query_identifiers(query))
        if not matches:
            return []
        rows = self.kb.ledger.chunks(matches)
        ranked = sorted(
            (cid for cid in matches if cid in rows and filters.accepts(rows[cid]["metadata"])),
            key=lambda cid: (-len(matches[cid]), cid),
        )
        return [(cid, float(len(matches[cid]))) for cid in ranked]

    def search(self, query: str, k: int = 10, mode: Mode = "hybrid", filters: Filters | None = None,
               max_per_doc: int | None = None) -> list[Hit]:
        filters = filters or Filters()
        query = query.strip()
        if not query:
            return []
        n = max(self.candidates, k * 3)
        exact = self.exact(query, filters)
        if mode == "dense":
            scored = self.dense(query, n, filters)
        elif mode == "keyword":
            scored = self.keyword(query, n, filters)
        else:
            dense, keyword = self.dense(query, n, filters), self.keyword(query, n, filters)
            w_dense, w_keyword, k_rrf = self.weights.for_query(query, self.rrf_k)
            fused = rrf([([c for c, _ in dense], w_dense), ([c for c, _ in keyword], w_keyword)], k_rrf)
            scored = sorted(fused.items(), key=lambda kv: -kv[1])
        pinned = [c for c, _ in exact]
        top = 1.0 + max((s for _, s in scored), default=0.0)
        order = [(c, top + s) for c, s in exact] + [(c, s) for c, s in scored if c not in set(pinned)]
        return self._hits(order, k, max_per_doc)

    def _hits(self, order: list[tuple[str, float]], k: int, max_per_doc: int | None) -> list[Hit]:
        rows = self.kb.ledger.chunks([c for c, _ in order[: k * 4 + 20]] if not max_per_doc else [c for c, _ in order])
        hits: list[Hit] = []
        per_doc: dict[str, int] = {}
        for cid, score in order:
            row = rows.get(cid)
            if row is None:
                continue
            doc_id = row["doc_id"]
            if max_per_doc and per_doc.get(doc_id, 0) >= max_per_doc:
                continue
            per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
            meta = row["metadata"]
            hits.append(Hit(doc_id, cid, score, meta.get("title", ""), meta.get("kind", ""), row["text"], meta))
            if len(hits) >= k:
                break
        return hits


class HybridRetriever(BaseRetriever):
    """Our retriever as a LangChain ``BaseRetriever``, for use in users' own chains."""

    retriever: Any
    k: int = 6
    mode: str = "hybrid"
    filters: Any = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        hits = self.retriever.search(query, k=self.k, mode=self.mode, filters=self.filters)
        return [
            LCDocument(page_content=h.text, id=h.chunk_id,
                       metadata={**h.metadata, "doc_id": h.doc_id, "chunk_id": h.chunk_id, "score": h.score})
            for h in hits
        ]
