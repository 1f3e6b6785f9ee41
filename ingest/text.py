"""Plain-text formats: Markdown (with YAML front matter), .txt and JSONL rows."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from ingest.common import LoadError, LoadOptions, RowError, clean_text, guess_kind, path_doc_id, read_text, \
    row_document, source_name
from rag.documents import Document

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)


def load_markdown(path: Path, options: LoadOptions) -> Iterator[Document]:
    text = clean_text(read_text(path))
    meta: dict[str, Any] = {}
    m = _FRONT_MATTER.match(text)
    if m:
        try:
            meta = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError as exc:
            raise LoadError(f"文件头 YAML 格式错误：{str(exc).splitlines()[0]}") from None
        if not isinstance(meta, dict):
            raise LoadError("文件头 YAML 应为键值对")
        text = text[m.end():]
    if not text.strip():
        raise LoadError("文件内容为空")
    meta = {str(k): v for k, v in meta.items()}
    title = str(meta.pop("title", "") or first_heading(text) or path.stem)
    doc_id = str(meta.pop("id", "") or path_doc_id(path))
    kind = guess_kind(path, meta.pop("kind", None), options)
    meta = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in meta.items()}
    yield Document(doc_id, text.strip(), kind, title, {**meta, "source": source_name(path)})


def first_heading(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            return ""
    return ""


def load_text(path: Path, options: LoadOptions) -> Iterator[Document]:
    text = clean_text(read_text(path))
    if not text.strip():
        raise LoadError("文件内容为空")
    yield Document(path_doc_id(path), text.strip(), guess_kind(path, None, options), path.stem,
                   {"source": source_name(path)})


def load_jsonl(path: Path, options: LoadOptions) -> Iterator[Document | RowError]:
    """One document per line; a bad line is reported and the others still load."""
    text = read_text(path)
    rows = 0
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        rows += 1
        if rows > options.max_rows:
            yield RowError(n, f"超过 {options.max_rows} 行的上限，第 {n} 行起未导入，请拆分文件")
            return
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RowError(n, f"第 {n} 行不是合法 JSON：{exc.msg}")
            continue
        if not isinstance(row, dict):
            yield RowError(n, f"第 {n} 行应为 JSON 对象")
            continue
        try:
            yield row_document(row, path, n, options)
        except LoadError as exc:
            yield RowError(n, str(exc))
    if rows == 0:
        raise LoadError("文件内容为空")
