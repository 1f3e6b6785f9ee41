"""Office formats: Word (.docx) as one document; Excel (.xlsx) and CSV/TSV as one document per row.

Word headings become Markdown headings, so chunking keeps them as each chunk's context; tables
become ``a | b | c`` lines. Spreadsheets and CSV take their first non-empty row as the header; the
text column is ``--text-field`` (or, left at its default, a common name such as 正文/内容), the
id column ``--id-field`` (else ``id``/``doc_id``), every other column stays as metadata.
Docx and xlsx are zip archives: :func:`ingest.common.check_zip` refuses zip bombs before any
library unpacks them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ingest.common import LoadError, LoadOptions, RowError, check_zip, file_document, path_doc_id, read_text, \
    row_document, text_field_for
from rag.documents import Document

csv.field_size_limit(16 * 1024 * 1024)
_HEADING_STYLE = re.compile(r"(?i)^(?:heading|标题)\s*(\d)$")


# -- docx ------------------------------------------------------------------------------------
def load_docx(path: Path, options: LoadOptions) -> Iterator[Document]:
    check_zip(path, options, "DOCX")
    try:
        import docx
        from docx.table import Table
    except ImportError:
        raise LoadError("缺少依赖 python-docx，请运行：pip install python-docx") from None
    try:
        d = docx.Document(str(path))
        lines = list(_docx_lines(d.iter_inner_content(), Table))
        title = (d.core_properties.title or "").strip()
    except LoadError:
        raise
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors… on damaged files
        raise LoadError(f"DOCX 文件已损坏或格式不受支持（{type(exc).__name__}）") from None
    text = "\n".join(lines)
    if not title:
        title = next((ln.lstrip("#").strip() for ln in lines if ln.startswith("#")), "")
    yield file_document(path, text, options, title)


def _docx_lines(blocks: Iterable[Any], table_type: type) -> Iterator[str]:
    for block in blocks:
        if isinstance(block, table_type):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    value = " ".join(cell.text.split())
                    if value and (not cells or cells[-1] != value):  # merged cells repeat their text
                        cells.append(value)
                if cells:
                    yield " | ".join(cells)
            continue
        text = block.text.strip()
        if not text:
            continue
        style = (block.style.name if block.style is not None else "") or ""
        m = _HEADING_STYLE.match(style.strip())
        if m or style.strip().lower() == "title":
            level = int(m.group(1)) if m else 1
            yield f"{'#' * max(1, min(level, 6))} {' '.join(text.split())}"
        else:
            yield text


# -- rows: xlsx and csv ----------------------------------------------------------------------
def _header(values: Iterable[Any]) -> list[str]:
    names: list[str] = []
    for i, v in enumerate(values, start=1):
        name = str(v).strip() if v is not None else ""
        name = name or f"列{i}"
        while name in names:
            name += "_"
        names.append(name)
    return names


def rows_to_documents(rows: Iterable[tuple[int, list[Any]]], path: Path, options: LoadOptions,
                      id_prefix: str = "", sheet: str | None = None) -> Iterator[Document | RowError]:
    """(row number, cell values) → documents; the first non-empty row is the header."""
    header: list[str] | None = None
    field = options.text_field
    count = 0
    for n, values in rows:
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        if header is None:
            header = _header(values)
            field = text_field_for(header, options)
            if field not in header:
                have = "、".join(header[:12]) + ("…" if len(header) > 12 else "")
                where = f"工作表 {sheet!r} " if sheet else ""
                raise LoadError(f"{where}表头缺少文本列 {options.text_field!r}（表头有：{have}；可用 --text-field 指定）")
            continue
        count += 1
        if count > options.max_rows:
            yield RowError(n, f"超过 {options.max_rows} 行的上限，第 {n} 行起未导入，请拆分文件")
            return
        row = dict(zip(header, values))
        if sheet is not None:
            row.setdefault("sheet", sheet)
        try:
            yield row_document(row, path, n, options, text_field=field,
                               default_id=f"{path_doc_id(path)}-{id_prefix}{n}")
        except LoadError as exc:
            yield RowError(n, f"{f'工作表 {sheet!r} ' if sheet else ''}{exc}")


def load_xlsx(path: Path, options: LoadOptions) -> Iterator[Document | RowError]:
    check_zip(path, options, "XLSX")
    try:
        import openpyxl
    except ImportError:
        raise LoadError("缺少依赖 openpyxl，请运行：pip install openpyxl") from None
    try:
        wb = openpyxl.load_workbook(str(path), read_only=True, data_only=True)
    except Exception as exc:
        raise LoadError(f"XLSX 文件已损坏或格式不受支持（{type(exc).__name__}）") from None
    try:
        sheets = [ws for ws in wb.worksheets if hasattr(ws, "iter_rows")]
        produced = False
        first_error: LoadError | None = None
        for i, ws in enumerate(sheets):
            rows = ((n, list(values)) for n, values in enumerate(ws.iter_rows(values_only=True), start=1))
            name = ws.title if len(sheets) > 1 else None
            try:
                for item in rows_to_documents(rows, path, options, id_prefix=f"{i + 1}-" if i else "", sheet=name):
                    produced = True
                    yield item
            except LoadError as exc:
                # in a workbook, a sheet without the text column (notes, pivots) is passed over
                first_error = first_error or exc
        if not produced:
            raise first_error or LoadError("工作簿中没有数据行")
    except LoadError:
        raise
    except Exception as exc:
        raise LoadError(f"XLSX 文件已损坏或格式不受支持（{type(exc).__name__}）") from None
    finally:
        wb.close()


def load_csv(path: Path, options: LoadOptions) -> Iterator[Document | RowError]:
    text = read_text(path)
    if not text.strip():
        raise LoadError("文件内容为空")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = [(n, row) for n, row in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise LoadError(f"CSV 格式错误（第 {reader.line_num} 行）：{exc}") from None
    yielded = False
    for item in rows_to_documents(rows, path, options):
        yielded = True
        yield item
    if not yielded:
        raise LoadError("没有数据行（只有表头或为空）")


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|，").delimiter
    except csv.Error:
        return ","
