"""What every loader shares: the error type, the options, ids, kinds, text decoding and row documents.

Loaders for each format family live in their own module (``ingest.text``, ``ingest.office``,
``ingest.pdf``, ``ingest.html``, ``ingest.ocr``); ``ingest.loaders`` puts them behind one registry.
Every loader raises :class:`LoadError` with a Chinese reason for a file it cannot read, and may
yield :class:`RowError` for a single bad row of a row-based file, whose other rows still load.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.documents import KINDS, Document

DIR_KINDS = {"regulations": "regulation", "cases": "case", "scripts": "script", "complaints": "complaint"}
# Column names tried, in order, when the configured text field is the default and is missing.
TEXT_ALIASES = ("text", "content", "body", "正文", "内容", "文本", "描述", "案情", "案情描述", "投诉内容")


class LoadError(Exception):
    """A file that cannot be loaded; the message says why, in Chinese."""


@dataclass(frozen=True)
class RowError:
    """One row of a row-based file that could not become a document (the file's other rows load)."""

    row: int
    reason: str


@dataclass(frozen=True)
class LoadOptions:
    kind: str = "auto"
    text_field: str = "text"
    id_field: str | None = None
    label_field: str = "label"
    max_bytes: int = 50 * 1024 * 1024
    # Office files are zip archives: refuse any whose members would unpack past this (zip bombs).
    max_unzipped_bytes: int = 500 * 1024 * 1024
    max_zip_ratio: int = 200  # uncompressed / compressed, above a few MB only
    max_rows: int = 200_000
    max_pages: int = 2_000
    max_image_pixels: int = 50_000_000
    ocr: bool = True  # images and PDF pages without a text layer go through OCR

    def key(self) -> str:
        """What changes the documents a file yields, as JSON (the file ledger's cache key)."""
        return json.dumps({k: getattr(self, k) for k in _KEY_FIELDS}, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_key(cls, key: str, **overrides: Any) -> LoadOptions:
        """The options a file was last read with (see :meth:`key`); unknown or bad keys give defaults."""
        try:
            values = json.loads(key)
        except (TypeError, ValueError):
            values = {}
        known = {k: values[k] for k in _KEY_FIELDS if isinstance(values, dict) and k in values}
        return cls(**{**known, **overrides})


_KEY_FIELDS = ("kind", "text_field", "id_field", "label_field", "ocr")


def source_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


def guess_kind(path: Path, declared: object, options: LoadOptions) -> str:
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


def file_document(path: Path, text: str, options: LoadOptions, title: str = "", **metadata: Any) -> Document:
    """The one document of a whole-file format (txt, pdf, docx, html, image)."""
    text = clean_text(text)
    if not text.strip():
        raise LoadError("没有可提取的文字")
    meta = {k: v for k, v in metadata.items() if v not in (None, "")}
    return Document(path_doc_id(path), text.strip(), guess_kind(path, None, options), title or path.stem,
                    {**meta, "source": source_name(path)})


# -- text ------------------------------------------------------------------------------------
_CONTROL_OK = set("\t\n\r\f\v")
_BOMS = (("utf-8-sig", b"\xef\xbb\xbf"), ("utf-16", b"\xff\xfe"), ("utf-16", b"\xfe\xff"))


def clean_text(text: str) -> str:
    """Drop NULs and other control characters that would only confuse chunking and display."""
    if not text:
        return ""
    return "".join(ch for ch in text if ch >= " " or ch in _CONTROL_OK).replace("\r\n", "\n").replace("\r", "\n")


def junk_ratio(text: str, sample: int = 65536) -> float:
    """Share of characters no text file contains: controls, unassigned or private-use code points."""
    part = text[:sample]
    if not part:
        return 0.0
    bad = 0
    for ch in part:
        o = ord(ch)
        if o < 32:
            bad += ch not in _CONTROL_OK
        elif 0x7F <= o < 0xA0 or ch == "\ufffd" or (o >= 0xE000 and unicodedata.category(ch) in ("Co", "Cn", "Cs")):
            bad += 1
    return bad / len(part)


def _plausible_gb(text: str) -> bool:
    """GB18030 decodes many byte strings; real Chinese text is mostly the common (GB2312) characters."""
    han = [ch for ch in text[:20000] if "\u4e00" <= ch <= "\u9fff"]
    if not han:
        return junk_ratio(text) < 0.02
    common = 0
    for ch in han:
        try:
            ch.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common / len(han) >= 0.6 and junk_ratio(text) < 0.02


_UTF8_CJK_RUN = re.compile(rb"(?:[\xe3-\xe9\xef][\x80-\xbf]{2}){4}")  # 4 CJK characters in a row, as UTF-8


def _utf8(data: bytes) -> str | None:
    """UTF-8 text; also when only the last character was cut off, or a big file has a stray bad
    byte (at most one per 5 KB, shown as U+FFFD). None when it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:
            try:
                return data[: exc.start].decode("utf-8")
            except UnicodeDecodeError:
                pass
    text = data.decode("utf-8", errors="replace")
    return text if text.count("\ufffd") <= len(data) // 5000 else None


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 with or without BOM, UTF-16 with BOM, GB18030/GBK, Big5 (detected).

    A UTF-8 file with a stray broken byte or two (a cut-off last character) loads with U+FFFD in
    their place. Raises LoadError for NUL bytes in an 8-bit file, binary junk, a file that mixes
    UTF-8 with another encoding, and encodings nothing here can read.
    """
    for encoding, bom in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError:
                raise LoadError(f"文件以 {encoding.upper()} 标记开头，但内容无法按该编码解码") from None
    if b"\x00" in data[:65536]:
        raise LoadError("包含 NUL 字节，不是文本文件")
    text = _utf8(data)
    if text is not None:
        if junk_ratio(text.replace("\ufffd", "")) < 0.02:
            return text, "utf-8"
        raise LoadError("内容含大量控制字符，不像文本文件")
    if _UTF8_CJK_RUN.search(data):
        raise LoadError("文件混用了 UTF-8 和其他编码（如 GBK），无法可靠解码；请统一另存为 UTF-8")
    try:
        text = data.decode("gb18030")
        if _plausible_gb(text):
            return text, "gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:1_000_000], cp_isolation=["big5"]).best()
    if best is not None and best.encoding:
        try:
            text = data.decode(best.encoding)
        except (UnicodeDecodeError, LookupError):
            text = ""
        if text and junk_ratio(text) < 0.02:
            return text, best.encoding
    raise LoadError("无法识别的文本编码，或不是文本文件（支持 UTF-8、UTF-8 BOM、UTF-16 BOM、GB18030/GBK、Big5）")


def read_text(path: Path) -> str:
    """Decode a text file (see :func:`decode_text`)."""
    return decode_text(path.read_bytes())[0]


# -- zip containers (docx, xlsx) --------------------------------------------------------------
def check_zip(path: Path, options: LoadOptions, what: str) -> None:
    """Refuse a broken archive or a zip bomb before any library unpacks it.

    The sizes come from the zip's central directory; Python's zipfile never inflates a member past
    its declared size (it fails the CRC instead), so what is declared is what would be unpacked.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise LoadError(f"{what} 文件已损坏（不是有效的 zip 容器）") from None
    if len(infos) > 10_000:
        raise LoadError(f"{what} 内含 {len(infos)} 个部件，疑似恶意文件，已拒绝")
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > options.max_unzipped_bytes:
        raise LoadError(f"{what} 解压后达 {total / 1e6:.0f} MB，超过上限 {options.max_unzipped_bytes / 1e6:.0f} MB"
                        "（疑似压缩炸弹），已拒绝")
    if total > 10 * 1024 * 1024 and total / packed > options.max_zip_ratio:
        raise LoadError(f"{what} 压缩比 {total / packed:.0f}:1 异常（疑似压缩炸弹），已拒绝")


# -- rows ------------------------------------------------------------------------------------
def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _scalar(value: object) -> object:
    """Dates and times from spreadsheets as ISO strings (a date cell comes back as midnight)."""
    if isinstance(value, dt.datetime) and value.time() == dt.time(0) and value.tzinfo is None:
        return value.date().isoformat()
    return value.isoformat() if hasattr(value, "isoformat") else value


def text_field_for(columns: list[str], options: LoadOptions) -> str:
    """The column that holds the text: the configured one, else a common name when left at default."""
    if options.text_field in columns or options.text_field != "text":
        return options.text_field
    lowered = {c.lower(): c for c in columns}
    for alias in TEXT_ALIASES:
        if alias in lowered:
            return lowered[alias]
    return options.text_field


def row_document(row: dict[str, Any], path: Path, n: int, options: LoadOptions,
                 text_field: str | None = None, default_id: str | None = None) -> Document:
    """One row of a JSONL/CSV/XLSX file as a document; unknown fields are kept as metadata."""
    row = {str(k).strip(): _scalar(v) for k, v in row.items() if k is not None and str(k).strip()}
    field = text_field or options.text_field
    text = row.pop(field, None)
    if _blank(text):
        raise LoadError(f"第 {n} 行缺少文本字段 {field!r}（可用 --text-field 指定）")
    id_keys = [options.id_field] if options.id_field else ["id", "doc_id"]
    doc_id = next((str(row.pop(k)).strip() for k in id_keys if k in row and not _blank(row[k])), "")
    for k in ("id", "doc_id"):
        row.pop(k, None)
    doc_id = doc_id or default_id or f"{path_doc_id(path)}-{n}"
    label = row.pop(options.label_field, None)
    if not _blank(label):
        row["label"] = str(label).strip()
    title = str(row.pop("title", "") or "")
    kind = guess_kind(path, row.pop("kind", None), options)
    return Document(doc_id, clean_text(str(text)).strip(), kind, title, {**row, "source": source_name(path)})
