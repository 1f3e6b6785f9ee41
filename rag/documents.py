"""The records that flow from ingest to the store: documents, chunks and search hits."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

KINDS = ("regulation", "case", "script", "complaint")
# Metadata keys every chunk carries (Chroma wants scalar values; "" means unknown).
CORE_FIELDS = ("doc_id", "kind", "title", "label", "date", "source", "access")


def content_hash(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def scalar_metadata(metadata: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """Flatten metadata for Chroma: lists and dicts become JSON strings, None is dropped."""
    out: dict[str, str | int | float | bool] = {}
    for key, value in metadata.items():
        if value is None:
            continue
        if isinstance(value, (str, int, float, bool)):
            out[key] = value
        else:
            out[key] = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return out


@dataclass
class Document:
    doc_id: str
    text: str
    kind: str = "complaint"
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.metadata.get("label") or "")

    @property
    def fingerprint(self) -> str:
        """Changes whenever anything that ends up in the store changes."""
        meta = json.dumps(self.metadata, ensure_ascii=False, sort_keys=True, default=str)
        return content_hash(self.doc_id, self.kind, self.title, self.text, meta)

    def chunk_metadata(self) -> dict[str, str | int | float | bool]:
        base = {
            "doc_id": self.doc_id,
            "kind": self.kind,
            "title": self.title,
            "label": self.label,
            "date": str(self.metadata.get("date") or ""),
            "source": str(self.metadata.get("source") or ""),
            "access": str(self.metadata.get("access") or "public"),
        }
        extra = {k: v for k, v in self.metadata.items() if k not in base}
        return {**scalar_metadata(extra), **base}


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    seq: int
    text: str  # what is shown and cited
    context: str  # title / heading path kept as context
    metadata: dict[str, Any]
    tokens: int = 0  # tiktoken count of ``text``

    @property
    def embed_text(self) -> str:
        """What the embedding model and keyword index see: context plus text."""
        return f"{self.context}\n{self.text}" if self.context else self.text


@dataclass
class Hit:
    doc_id: str
    chunk_id: str
    score: float
    title: str
    kind: str
    text: str
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "chunk_id": self.chunk_id,
            "score": round(float(self.score), 6),
            "title": self.title,
            "kind": self.kind,
            "text": self.text,
            "metadata": self.metadata,
        }
