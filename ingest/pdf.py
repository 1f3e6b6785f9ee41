"""PDF: the text layer with pypdf; pages without one (scans) through OCR of their images.

One document per file, pages separated by blank lines. A page that cannot be parsed is reported
(its number and why) while the other pages still load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from ingest.common import LoadError, LoadOptions, RowError, file_document
from rag.documents import Document

logging.getLogger("pypdf").setLevel(logging.ERROR)
MIN_TEXT_CHARS = 5  # fewer visible characters than this: treat the page as a scan


def _visible(text: str) -> int:
    return len("".join(text.split()))


def load_pdf(path: Path, options: LoadOptions) -> Iterator[Document | RowError]:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise LoadError("缺少依赖 pypdf，请运行：pip install pypdf") from None
    try:
        reader = PdfReader(str(path), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError("PDF 已加密，需要密码，无法读取")
        n_pages = len(reader.pages)
        title = str((reader.metadata or {}).get("/Title") or "").strip()
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many types on damaged files
        raise LoadError(f"PDF 文件已损坏或格式不受支持（{type(exc).__name__}）") from None
    if n_pages == 0:
        raise LoadError("PDF 没有页面")
    problems: list[RowError] = []
    pages: list[str] = []
    ocr_pages: list[int] = []
    for i in range(min(n_pages, options.max_pages)):
        try:
            page = reader.pages[i]
            text = page.extract_text() or ""
        except Exception as exc:
            problems.append(RowError(i + 1, f"第 {i + 1} 页无法解析（{type(exc).__name__}）"))
            continue
        if _visible(text) < MIN_TEXT_CHARS and options.ocr:
            scanned = _ocr_page(page, options)
            if _visible(scanned) > _visible(text):
                text = scanned
                ocr_pages.append(i + 1)
        if text.strip():
            pages.append(text.strip())
    if n_pages > options.max_pages:
        problems.append(RowError(options.max_pages + 1, f"共 {n_pages} 页，超过 {options.max_pages} 页上限，其余页未导入"))
    if not pages:
        if problems:
            raise LoadError(problems[0].reason)
        raise LoadError("PDF 中没有可提取的文字（无文字层，OCR 也未识别出文字）" if options.ocr
                        else "PDF 中没有文字层（扫描件需启用 OCR）")
    yield file_document(path, "\n\n".join(pages), options, title, pages=n_pages,
                        ocr_pages=ocr_pages or None)
    yield from problems


def _ocr_page(page, options: LoadOptions) -> str:
    """The text of a scanned page: OCR of each image drawn on it, in order."""
    from ingest.ocr import ocr_bytes

    texts: list[str] = []
    try:
        images = list(page.images)
    except Exception:
        return ""
    for image in images:
        try:
            text, _confidence = ocr_bytes(image.data, options)
        except LoadError:
            continue
        except Exception:
            continue
        if text.strip():
            texts.append(text)
    return "\n".join(texts)
