"""Files → documents: one registry over the loaders of every format family.

| family | module | extensions | documents |
|---|---|---|---|
| text | ``ingest.text`` | .md .markdown .txt .jsonl | one per file; JSONL one per row |
| office | ``ingest.office`` | .docx .xlsx .csv .tsv | Word one per file; sheets and CSV one per row |
| pdf | ``ingest.pdf`` | .pdf | one per file; scanned pages through OCR |
| html | ``ingest.html`` | .html .htm | one per file |
| images | ``ingest.ocr`` | .png .jpg .jpeg .bmp .webp | one per file, through OCR |

:func:`read_file` never raises for a bad file's content: it returns a :class:`LoadError` reason or
the documents plus the rows that could not be read. :func:`load_file` is the strict form.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.common import (  # re-exported: see __all__
    DIR_KINDS,
    LoadError,
    LoadOptions,
    RowError,
    decode_text,
    guess_kind,
    path_doc_id,
    read_text,
    row_document,
    source_name,
)
from ingest.html import load_html
from ingest.ocr import load_image
from ingest.office import load_csv, load_docx, load_xlsx
from ingest.pdf import load_pdf
from ingest.text import first_heading, load_jsonl, load_markdown, load_text
from rag.documents import Document

Loader = Callable[[Path, LoadOptions], Iterable["Document | RowError"]]

LOADERS: dict[str, Loader] = {
    ".md": load_markdown,
    ".markdown": load_markdown,
    ".txt": load_text,
    ".jsonl": load_jsonl,
    ".csv": load_csv,
    ".tsv": load_csv,
    ".xlsx": load_xlsx,
    ".docx": load_docx,
    ".pdf": load_pdf,
    ".html": load_html,
    ".htm": load_html,
    ".png": load_image,
    ".jpg": load_image,
    ".jpeg": load_image,
    ".bmp": load_image,
    ".webp": load_image,
}
ROW_FORMATS = {".jsonl", ".csv", ".tsv", ".xlsx"}
__all__ = ["DIR_KINDS", "LOADERS", "ROW_FORMATS", "Loaded", "LoadError", "LoadOptions", "RowError", "check_file",
           "decode_text", "first_heading", "guess_kind", "load_file", "path_doc_id", "read_file", "read_text",
           "row_document", "source_name", "supported"]


@dataclass
class Loaded:
    """What one file gave: its documents, and the rows (or pages) that could not be read."""

    docs: list[Document] = field(default_factory=list)
    problems: list[RowError] = field(default_factory=list)

    def problem_line(self) -> str:
        """One line for the report: the first problem, how many more, what did load."""
        if not self.problems:
            return ""
        first = self.problems[0].reason
        more = f"等 {len(self.problems)} 处问题" if len(self.problems) > 1 else ""
        return f"{first}{'（' + more + '）' if more else ''}；其余 {len(self.docs)} 篇已导入"


def supported(path: Path) -> bool:
    return path.suffix.lower() in LOADERS


def check_file(path: Path, options: LoadOptions) -> None:
    """Cheap checks before any parsing: type, readable, not empty, under the size limit."""
    if not supported(path):
        raise LoadError(f"不支持的文件类型 {path.suffix or '（无扩展名）'}（支持：{' '.join(sorted(LOADERS))}）")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise LoadError(f"无法读取：{exc.strerror}") from None
    if size > options.max_bytes:
        raise LoadError(f"文件过大（{size / 1e6:.1f} MB，上限 {options.max_bytes / 1e6:.0f} MB）")
    if size == 0:
        raise LoadError("文件内容为空")


def read_file(path: Path, options: LoadOptions) -> Loaded:
    """All documents of one file; LoadError when the file as a whole cannot be read.

    A doc id that occurs twice in one file is a problem of the later row; the first one is kept.
    """
    check_file(path, options)
    out = Loaded()
    seen: set[str] = set()
    try:
        for item in LOADERS[path.suffix.lower()](path, options):
            if isinstance(item, RowError):
                out.problems.append(item)
            elif item.doc_id in seen:
                out.problems.append(RowError(0, f"文档编号重复：{item.doc_id}（只保留第一次出现）"))
            else:
                seen.add(item.doc_id)
                out.docs.append(item)
    except MemoryError:
        raise LoadError("文件内容过大，内存不足") from None
    except RecursionError:
        raise LoadError("文件结构嵌套过深，无法解析") from None
    except OSError as exc:
        raise LoadError(f"无法读取：{exc.strerror or exc}") from None
    if not out.docs:
        raise LoadError(out.problems[0].reason if out.problems else "没有可导入的内容")
    return out


def load_file(path: Path, options: LoadOptions) -> list[Document]:
    """All documents of one file, or LoadError (strict: any bad row fails the file)."""
    loaded = read_file(path, options)
    if loaded.problems:
        raise LoadError(loaded.problems[0].reason)
    return loaded.docs
