"""Files → documents. One loader per format; row files give one document per row.

Every loader raises :class:`LoadError` with a Chinese reason for a file it cannot read; the
pipeline records the reason and goes on with the next file.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rag.documents import KINDS, Document

DIR_KINDS = {"regulations": "regulation", "cases": "case", "scripts": "script", "complaints": "complaint"}
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


class LoadError(Exception):
    """A file that cannot be loaded; the message says why, in Chinese."""


@dataclass(frozen=True)
class LoadOptions:
    kind: str = "auto"
    text_field: str = "text"
    id_field: str | None = None
    label_field: str = "label"
    max_bytes: int = 50 * 1024 * 1024


def source_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


def guess_kind(path: Path, declared: str | None, options: LoadOptions) -> str:
    if options.kind != "auto":
        return options.kind
    if declared in KINDS:
        return str(declared)
    for part in reversed(path.resolve().parts[:-1]):
        if part in DIR_KINDS:
            return DIR_KINDS[part]
    return "complaint"


def path_doc_id(path: Path) -> str:
    stem = re.sub(r"[^\w\-]+", "-", path.stem).strip("-")[:48] or "doc"
    return f"{stem}-{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"


def read_text(path: Path) -> str:
    """Decode a text file: UTF-8 (with or without BOM), then GB18030; NUL bytes are refused."""
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise LoadError("包含 NUL 字节，不是文本文件")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise LoadError("无法识别的文本编码（支持 UTF-8、GB18030/GBK）")


def load_markdown(path: Path, options: LoadOptions) -> Iterator[Document]:
    text = read_text(path)
    meta: dict[str, Any] = {}
    m = _FRONT_MATTER.match(text)
    if m:
        try:
            meta = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError as exc:
            raise LoadError(f"文件头 YAML 格式错误：{exc}") from None
        if not isinstance(meta, dict):
            raise LoadError("文件头 YAML 应为键值对")
        text = text[m.end():]
    if not text.strip():
        raise LoadError("文件内容为空")
    title = str(meta.pop("title", "") or _first_heading(text) or path.stem)
    doc_id = str(meta.pop("id", "") or path_doc_id(path))
    kind = guess_kind(path, meta.pop("kind", None), options)
    meta = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in meta.items()}
    yield Document(doc_id, text.strip(), kind, title, {**meta, "source": source_name(path)})


def _first_heading(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            return ""
    return ""


def row_document(row: dict[str, Any], path: Path, n: int, options: LoadOptions) -> Document:
    """One row of a JSONL/CSV/XLSX file as a document; unknown fields are kept as metadata."""
    row = {str(k).strip(): v for k, v in row.items() if k is not None}
    text = row.pop(options.text_field, None)
    if text is None or not str(text).strip():
        raise LoadError(f"第 {n} 行缺少文本字段 {options.text_field!r}（可用 --text-field 指定）")
    id_keys = [options.id_field] if options.id_field else ["id", "doc_id"]
    doc_id = next((str(row.pop(k)) for k in id_keys if k in row and str(row[k]).strip()), "")
    for k in ("id", "doc_id"):
        row.pop(k, None)
    doc_id = doc_id or f"{path_doc_id(path)}-{n}"
    label = row.pop(options.label_field, None)
    if label not in (None, ""):
        row["label"] = str(label)
    title = str(row.pop("title", "") or "")
    kind = guess_kind(path, row.pop("kind", None), options)
    return Document(doc_id, str(text).strip(), kind, title, {**row, "source": source_name(path)})


def load_jsonl(path: Path, options: LoadOptions) -> Iterator[Document]:
    text = read_text(path)
    rows = 0
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LoadError(f"第 {n} 行不是合法 JSON：{exc.msg}") from None
        if not isinstance(row, dict):
            raise LoadError(f"第 {n} 行应为 JSON 对象")
        rows += 1
        yield row_document(row, path, n, options)
    if rows == 0:
        raise LoadError("文件内容为空")


def load_text(path: Path, options: LoadOptions) -> Iterator[Document]:
    text = read_text(path)
    if not text.strip():
        raise LoadError("文件内容为空")
    yield Document(path_doc_id(path), text.strip(), guess_kind(path, None, options), path.stem,
                   {"source": source_name(path)})


LOADERS: dict[str, Callable[[Path, LoadOptions], Iterator[Document]]] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".jsonl": load_jsonl,
}


def load_file(path: Path, options: LoadOptions) -> list[Document]:
    """All documents of one file, or LoadError."""
    loader = LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoadError(f"不支持的文件类型 {path.suffix or '（无扩展名）'}（支持：{' '.join(sorted(LOADERS))}）")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(f"无法读取：{exc.strerror}") from None
    if size > options.max_bytes:
        raise LoadError(f"文件过大（{size / 1e6:.1f} MB，上限 {options.max_bytes / 1e6:.0f} MB）")
    if size == 0:
        raise LoadError("文件内容为空")
    docs = list(loader(path, options))
    seen: set[str] = set()
    for d in docs:
        if d.doc_id in seen:
            raise LoadError(f"文档编号重复：{d.doc_id}")
        seen.add(d.doc_id)
    return docs
