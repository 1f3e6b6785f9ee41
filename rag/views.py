"""HTML and Markdown views of results, for the workbench (no UI library here, only strings).

Everything user- or document-supplied is escaped: complaint text is written by the very gangs
under investigation and must never become markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from rag.documents import Hit

KIND_NAMES = {"regulation": "法规", "case": "案例", "script": "话术", "complaint": "投诉"}
_CITE = re.compile(r"\[S(\d+)\]")

CSS = """
.xs-badge {display:inline-block;padding:2px 10px;border-radius:12px;font-size:13px;margin-right:6px}
.xs-badge.offline {background:#fff4e5;color:#8a4b00;border:1px solid #f0c36d}
.xs-badge.llm {background:#e8f4ff;color:#0b4f8a;border:1px solid #8cc4f5}
.xs-badge.mask {background:#eef8ee;color:#235c23;border:1px solid #9fd19f}
.xs-src {border:1px solid #ddd;border-radius:8px;margin:6px 0;padding:4px 10px;background:#fafafa}
.xs-src summary {cursor:pointer;font-weight:600}
.xs-src .xs-meta {color:#666;font-size:12px;margin-left:6px;font-weight:400}
.xs-src p {white-space:pre-wrap;line-height:1.7;margin:6px 0}
.xs-empty {color:#888;padding:8px}
mark.xs-flag {background:#ffd6d6;padding:0 2px;border-radius:3px}
"""


def badges(backend_label: str, offline: bool, masking: str) -> str:
    cls = "offline" if offline else "llm"
    return (f'<span class="xs-badge {cls}" id="xs-backend">引擎：{html.escape(backend_label)}</span>'
            f'<span class="xs-badge mask" id="xs-masking">个人信息：{html.escape(masking)}</span>')


def sources_html(hits: Iterable[Hit], cited: Iterable[int] = ()) -> str:
    """Numbered sources as collapsible blocks; cited ones open by default."""
    cited = set(cited)
    blocks = []
    for n, h in enumerate(hits, start=1):
        kind = KIND_NAMES.get(h.kind, h.kind or "资料")
        meta = " · ".join(x for x in (kind, h.doc_id, str(h.metadata.get("date") or "")) if x)
        blocks.append(
            f'<details class="xs-src" id="xs-src-{n}"{" open" if n in cited else ""}>'
            f"<summary>[S{n}] {html.escape(h.title or h.doc_id)}"
            f'<span class="xs-meta">{html.escape(meta)}</span></summary>'
            f"<p>{html.escape(h.text)}</p></details>"
        )
    return "".join(blocks) or '<div class="xs-empty">暂无来源。</div>'


def cited_numbers(text: str) -> list[int]:
    return sorted({int(n) for n in _CITE.findall(text)})


def highlight(text: str, phrases: Iterable[str]) -> str:
    """Escape ``text`` and wrap every occurrence of the given phrases in <mark>."""
    phrases = sorted({p for p in phrases if p}, key=len, reverse=True)
    if not phrases:
        return html.escape(text)
    pattern = re.compile("|".join(re.escape(p) for p in phrases))
    out, last = [], 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        out.append(f'<mark class="xs-flag">{html.escape(m.group(0))}</mark>')
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)
