"""Writers for what leaves the workbench: DOCX (python-docx), Markdown, and the link-graph PNG.

``markdown_to_docx`` understands the Markdown our own reports write: headings, paragraphs, ``-``
and ``1.`` lists, pipe tables, block quotes, ``**bold**`` and images; it is not a general Markdown
renderer. Chinese text gets an East Asian font so Word does not fall back to a Latin one.
The graph picture uses only ASCII labels, so no CJK font is needed on the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CJK_FONT = "宋体"
_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)]+)\)\s*$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_LIST = re.compile(r"^(?:[-*]|\d{1,3}[.、])\s+")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _docx():
    try:
        import docx
    except ModuleNotFoundError:
        raise RuntimeError("导出 DOCX 需要 python-docx：pip install python-docx") from None
    return docx


def _east_asian_font(rpr) -> None:
    from docx.oxml.ns import qn

    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    fonts.set(qn("w:eastAsia"), CJK_FONT)


def _cjk(run) -> None:
    _east_asian_font(run._element.get_or_add_rPr())


def _new_document():
    document = _docx().Document()
    for style in ("Normal", "Title", "Heading 1", "Heading 2", "Heading 3"):
        _east_asian_font(document.styles[style].element.get_or_add_rPr())
    return document


def _add_text(paragraph, text: str) -> None:
    """Add ``text`` to a paragraph, honouring **bold**."""
    pos = 0
    for m in _BOLD.finditer(text):
        if m.start() > pos:
            _cjk(paragraph.add_run(text[pos : m.start()]))
        run = paragraph.add_run(m.group(1))
        run.bold = True
        _cjk(run)
        pos = m.end()
    if pos < len(text):
        _cjk(paragraph.add_run(text[pos:]))


def _cells(line: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def markdown_to_docx(markdown: str, path: Path | str, base_dir: Path | str | None = None) -> Path:
    """Write ``markdown`` as a Word document; images are looked up relative to ``base_dir``."""
    from docx.shared import Cm

    document = _new_document()
    base = Path(base_dir) if base_dir else Path(path).parent
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            i += 1
            continue
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 3)
            heading = document.add_heading(level=0 if level == 1 else level - 1)
            _add_text(heading, line.lstrip("#").strip())
        elif (m := _IMAGE.match(line.strip())) is not None:
            image = Path(m.group(2))
            image = image if image.is_absolute() else base / image
            if image.exists():
                document.add_picture(str(image), width=Cm(15))
            else:
                _add_text(document.add_paragraph(), f"[图片缺失：{m.group(2)}]")
        elif line.lstrip().startswith("|") and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1].strip()):
            header = _cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            table = document.add_table(rows=1 + len(rows), cols=len(header))
            table.style = "Table Grid"
            for r, values in enumerate([header, *rows]):
                for c in range(len(header)):
                    cell = table.cell(r, c)
                    cell.text = ""
                    _add_text(cell.paragraphs[0], values[c] if c < len(values) else "")
                    if r == 0:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
            continue
        elif line.startswith(">"):
            p = document.add_paragraph(style="Intense Quote" if "Intense Quote" in document.styles else None)
            _add_text(p, line.lstrip("> ").strip())
        elif _LIST.match(line.lstrip()):
            numbered = line.lstrip()[0].isdigit()
            p = document.add_paragraph(style="List Number" if numbered else "List Bullet")
            _add_text(p, _LIST.sub("", line.lstrip(), count=1))
        else:
            _add_text(document.add_paragraph(), line)
        i += 1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def text_to_docx(text: str, path: Path | str, title: str | None = None,
                 appendix: Iterable[str] | None = None) -> Path:
    """A letter: one paragraph per line of ``text``; an optional appendix after a page break."""
    document = _new_document()
    if title:
        _add_text(document.add_heading(level=1), title)
    for line in text.splitlines():
        _add_text(document.add_paragraph(), line)
    lines = list(appendix or [])
    if lines:
        document.add_page_break()
        for line in lines:
            if line.startswith("#"):
                _add_text(document.add_heading(level=2), line.lstrip("#").strip())
            else:
                _add_text(document.add_paragraph(), line)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def write_markdown(markdown: str, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown, encoding="utf-8")
    return path


LABEL_COLOURS = {
    "proxy_rights": "#d62728", "debt_evasion": "#ff7f0e", "credit_repair": "#9467bd", "loan_broker": "#8c564b",
    "impersonation": "#1f77b4", "deepfake": "#17becf", "legit_complaint": "#2ca02c", "": "#7f7f7f",
}


def graph_png(nodes: list[dict[str, Any]], edges: list[tuple[str, str]], path: Path | str,
              title: str = "") -> Path:
    """Draw a case–identifier graph. ``nodes``: {"id", "label" (ASCII), "kind": case|identifier, "colour"}."""
    try:
        import matplotlib
    except ModuleNotFoundError:
        raise RuntimeError("绘制关联图需要 matplotlib：pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    g = nx.Graph()
    for n in nodes:
        g.add_node(n["id"])
    g.add_edges_from(edges)
    size = max(6.0, min(14.0, 3 + 0.45 * len(nodes)))
    fig, ax = plt.subplots(figsize=(size, size * 0.75), dpi=110)
    pos = nx.spring_layout(g, seed=7, k=1.6 / max(1, len(nodes)) ** 0.5)
    cases = [n for n in nodes if n["kind"] == "case"]
    idents = [n for n in nodes if n["kind"] != "case"]
    nx.draw_networkx_edges(g, pos, ax=ax, edge_color="#999999", width=1.0)
    nx.draw_networkx_nodes(g, pos, nodelist=[n["id"] for n in cases], node_color=[n["colour"] for n in cases],
                           node_shape="o", node_size=520, ax=ax, alpha=0.9)
    nx.draw_networkx_nodes(g, pos, nodelist=[n["id"] for n in idents], node_color="#ffd84d",
                           node_shape="s", node_size=420, ax=ax, edgecolors="#8a6d00")
    nx.draw_networkx_labels(g, pos, labels={n["id"]: n["label"] for n in nodes}, font_size=7, ax=ax)
    if title:
        ax.set_title(title, fontsize=10)
    ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
