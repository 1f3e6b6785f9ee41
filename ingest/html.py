"""HTML → text with the standard library's parser.

Scripts, styles and other non-content elements are dropped; block elements end lines; ``<h1>``–``<h6>``
become Markdown headings (so chunks keep them as context), list items ``- ``, table rows ``a | b``.
The encoding comes from a BOM, then a ``<meta charset>``, then detection.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from ingest.common import LoadError, LoadOptions, decode_text, file_document
from rag.documents import Document

_SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "canvas", "select"}
_BLOCK = {"p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "blockquote", "pre",
          "ul", "ol", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "form", "fieldset", "figure",
          "figcaption", "address", "hr", "body", "html"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.title: list[str] = []
        self.in_title = False
        self.heading: int | None = None
        self.cells: list[str] | None = None
        self.pre = 0

    def _flush(self) -> None:
        text = "".join(self.current)
        self.current = []
        text = text if self.pre else " ".join(text.split())
        if not text.strip():
            return
        if self.heading:
            self.lines.append(f"{'#' * self.heading} {text.strip()}")
        else:
            self.lines.append(text.rstrip())

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            if tag == "head":
                return  # <title> inside <head> is still read
            self.skip_depth += 1
            return
        if tag == "title":
            self.in_title = True
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._flush()
            self.heading = int(tag[1])
        elif tag == "br":
            self._flush()
        elif tag == "li":
            self._flush()
            self.current.append("- ")
        elif tag == "tr":
            self._flush()
            self.cells = []
        elif tag in ("td", "th"):
            if self.cells is not None:
                self._end_cell()
        elif tag == "pre":
            self._flush()
            self.pre += 1
        elif tag in _BLOCK:
            self._flush()

    def _end_cell(self) -> None:
        text = " ".join("".join(self.current).split())
        self.current = []
        if text and self.cells is not None:
            self.cells.append(text)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            if tag != "head":
                self.skip_depth = max(0, self.skip_depth - 1)
            return
        if tag == "title":
            self.in_title = False
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._flush()
            self.heading = None
        elif tag in ("td", "th"):
            self._end_cell()
        elif tag == "tr":
            self._end_cell()
            if self.cells:
                self.lines.append(" | ".join(self.cells))
            self.cells = None
        elif tag == "pre":
            self._flush()
            self.pre = max(0, self.pre - 1)
        elif tag in _BLOCK or tag == "li":
            self._flush()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skip_depth:
            self.current.append(data)

    def text(self) -> str:
        if self.cells is not None:
            self._end_cell()
            if self.cells:
                self.lines.append(" | ".join(self.cells))
        self._flush()
        return "\n".join(self.lines)


def html_to_text(markup: str) -> tuple[str, str]:
    """(text, title) of an HTML page."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return parser.text(), " ".join("".join(parser.title).split())


def _decode_html(data: bytes) -> str:
    m = _META_CHARSET.search(data[:4096])
    if m and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        declared = m.group(1).decode("ascii").lower()
        declared = "gb18030" if declared in ("gb2312", "gbk", "gb18030") else declared
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong declaration: fall back to detection
    return decode_text(data)[0]


def load_html(path: Path, options: LoadOptions) -> Iterator[Document]:
    markup = _decode_html(path.read_bytes())
    if "\x00" in markup:
        raise LoadError("包含 NUL 字节，不是 HTML 文件")
    text, title = html_to_text(markup)
    if not text.strip():
        raise LoadError("网页中没有正文文字")
    if not title:
        title = next((ln.lstrip("#").strip() for ln in text.splitlines() if ln.startswith("#")), "")
    yield file_document(path, text, options, title)
