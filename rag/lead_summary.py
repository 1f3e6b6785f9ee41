"""Lead summaries: overview, timeline, identifier table, link-graph picture, evidence list.

Ready to hand to police or a regulator as Markdown or DOCX. The evidence is numbered ``[S#]`` in
date order; the offline narrative is a template over the group's facts, the LLM narrative
(``prompts/leads``) may cite only those numbers and is checked like every other answer.
The investigator sees raw identifiers; ``masked=True`` hides their middle for other readers.
"""

from __future__ import annotations

import secrets
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rag.answer import check_citations, citations_for, strip_foreign_links
from rag.documents import Hit
from rag.entities import Entity
from rag.draft_templates import LABEL_NAMES
from rag.export import LABEL_COLOURS, graph_png, markdown_to_docx, write_markdown
from rag.leads import TYPE_NAMES, LinkGraph
from rag.llm import LLMError
from rag.pii import mask, masked_form

OFFLINE_NOTE = "（离线引擎：概述与叙述由模板根据案件要素生成，未使用大语言模型。）"
CODE = {"mobile": "M", "landline": "T", "id_card": "ID", "bank_card": "C", "wechat": "W", "qq": "Q",
        "email": "E", "url": "U", "org": "O", "template": "TPL"}
IMAGE_NAME = "lead-graph.png"


def short_label(label: str) -> str:
    """A label's Chinese name without its parenthesis, for tables."""
    return LABEL_NAMES.get(label, label).split("（")[0]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _excerpt(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat[:limit] + ("…" if len(flat) > limit else "")


@dataclass
class LeadSummary:
    group: dict[str, Any]
    items: list[dict[str, Any]]  # members in date order: item n is [S n]
    keys: dict[str, set]  # member id -> its linking keys
    narrative: str
    citations: list[dict[str, Any]]
    backend: str
    notes: list[str] = field(default_factory=list)
    masked: bool = False
    created: str = field(default_factory=lambda: datetime.now().strftime("%Y-%m-%d %H:%M"))

    # -- pieces ------------------------------------------------------------------------------
    def show(self, ident: dict[str, Any]) -> str:
        """An identifier as this summary may show it."""
        if ident["type"] == "template":
            return f"模板（首见于 {ident['normalized'][4:]}）"
        if not self.masked or ident["type"] in ("org", "url"):
            return ident["normalized"]
        return masked_form(Entity(ident["type"], ident["value"], ident["normalized"], 0, 0))

    def text_of(self, item: dict[str, Any]) -> str:
        return mask(str(item.get("text") or "")) if self.masked else str(item.get("text") or "")

    def codes(self) -> dict[str, str]:
        """normalized identifier -> its node label in the picture (M1, W2, TPL1 …)."""
        seen: Counter[str] = Counter()
        out = {}
        for ident in self.group["identifiers"]:
            prefix = CODE.get(ident["type"], "X")
            seen[prefix] += 1
            out[ident["normalized"]] = f"{prefix}{seen[prefix]}"
        return out

    @property
    def title(self) -> str:
        gid = self.group.get("id") or "选定案件"
        return f"线索汇总 {gid}：{self.group['size']} 件关联案件"

    def overview(self) -> str:
        g = self.group
        labels = "、".join(f"{short_label(k)} {v} 件" for k, v in g["labels"].items()) or "未标注"
        regions = "、".join(list(g["regions"])[:6]) or "未知"
        channels = "、".join(g["channels"]) or "未知"
        span = f"{g['first_date']} 至 {g['last_date']}（{g['span_days']} 天）" if g["first_date"] else "日期不详"
        joins = "；".join(f"{TYPE_NAMES.get(i['type'], i['type'])} {self.show(i)}（{i['count']} 件）"
                         for i in g["identifiers"][:6]) or "无共用标识"
        return (f"本组共 {g['size']} 件案件/投诉，时间跨度 {span}；类型：{labels}；涉及地区：{regions}；来源渠道：{channels}。"
                f"关联依据：{joins}。风险评分 {g['score']:.2f}（{'，'.join(g['reasons'])}）。")

    def offline_narrative(self) -> str:
        g = self.group
        first, last = self.items[0], self.items[-1]
        top = g["identifiers"][:3]
        parts = [f"最早一件为 {first['id']}（{first.get('date') or '日期不详'}，{first.get('channel') or '渠道不详'}）[S1]，"
                 f"最近一件为 {last['id']}（{last.get('date') or '日期不详'}）[S{len(self.items)}]。"]
        for ident in top:
            members = [n for n, it in enumerate(self.items, start=1)
                       if any(k[1] == ident["normalized"] for k in self.keys.get(it["id"], ()))]
            cites = "".join(f"[S{n}]" for n in members[:4])
            what = TYPE_NAMES.get(ident["type"], ident["type"])
            parts.append(f"{what} {self.show(ident)} 出现在 {ident['count']} 件中{cites}。")
        if g["labels"]:
            main = max(g["labels"], key=g["labels"].get)
            parts.append(f"以“{short_label(main)}”为主（{g['labels'][main]}/{g['size']} 件），建议并案核查上述标识的实际控制人和资金流向。")
        return "".join(parts)

    # -- outputs -----------------------------------------------------------------------------
    def to_markdown(self, image: str | None = IMAGE_NAME) -> str:
        g = self.group
        codes = self.codes()
        out = [f"# {self.title}", "",
               f"> 生成时间：{self.created}；引擎：{self.backend}。本材料{'已对个人信息脱敏' if self.masked else '含个人信息，仅限授权调查人员使用，转交公安或监管部门时请按规定办理'}。",
               "", "## 一、概述", "", self.overview(), "", "## 二、时间线", "",
               "| 日期 | 编号 | 类型 | 渠道 | 地区 | 摘要 |", "| --- | --- | --- | --- | --- | --- |"]
        for it in self.items:
            out.append(f"| {it.get('date') or ''} | {it['id']} | {short_label(it.get('label') or '')} "
                       f"| {_cell(it.get('channel') or '')} | {_cell(it.get('region') or '')} | {_cell(_excerpt(self.text_of(it), 40))} |")
        out += ["", "## 三、标识表", "", "| 图中编号 | 类型 | 标识 | 出现次数 | 涉及案件 |", "| --- | --- | --- | --- | --- |"]
        for ident in g["identifiers"]:
            members = [it["id"] for it in self.items if any(k[1] == ident["normalized"] for k in self.keys.get(it["id"], ()))]
            out.append(f"| {codes[ident['normalized']]} | {TYPE_NAMES.get(ident['type'], ident['type'])} | {_cell(self.show(ident))} "
                       f"| {ident['count']} | {'、'.join(members)} |")
        if not g["identifiers"]:
            out.append("| — | — | 无共用标识 | — | — |")
        if image:
            out += ["", "## 四、关联图", "", f"![关联图]({image})", "",
                    "圆点为案件（颜色表示类型），方块为共用标识（编号见标识表）。"]
        out += ["", "## 五、案情叙述", "", self.narrative, "", "## 六、证据清单", ""]
        for n, it in enumerate(self.items, start=1):
            idents = [self.show({"type": k[0], "value": k[1], "normalized": k[1]}) for k in sorted(self.keys.get(it["id"], ()))
                      if k[0] != "template"]
            meta = "，".join(x for x in (it.get("date"), it.get("channel"), it.get("region")) if x)
            out.append(f"{n}. [S{n}] {it['id']}（{meta}）：{_cell(_excerpt(self.text_of(it), 80))}"
                       + (f" 标识：{'、'.join(idents)}" if idents else ""))
        if self.notes:
            out += ["", "## 说明", "", *[f"- {x}" for x in self.notes]]
        return "\n".join(out) + "\n"

    @property
    def markdown(self) -> str:
        return self.to_markdown()

    def graph_png(self, path: Path | str) -> Path:
        codes = self.codes()
        nodes = [{"id": it["id"], "kind": "case", "label": _ascii(it["id"], n),
                  "colour": LABEL_COLOURS.get(it.get("label") or "", LABEL_COLOURS[""])}
                 for n, it in enumerate(self.items, start=1)]
        nodes += [{"id": f"k:{i['normalized']}", "kind": "identifier", "label": codes[i["normalized"]], "colour": ""}
                  for i in self.group["identifiers"]]
        shared = {i["normalized"] for i in self.group["identifiers"]}
        edges = [(it["id"], f"k:{k[1]}") for it in self.items for k in self.keys.get(it["id"], ()) if k[1] in shared]
        return graph_png(nodes, edges, path, title=f"{self.group.get('id') or 'selection'}: {self.group['size']} cases")

    def write_markdown(self, path: Path | str) -> Path:
        """The Markdown file with its picture beside it."""
        path = Path(path)
        self.graph_png(path.with_name(path.stem + "-" + IMAGE_NAME))
        return write_markdown(self.to_markdown(path.stem + "-" + IMAGE_NAME), path)

    def to_docx(self, path: Path | str) -> Path:
        with tempfile.TemporaryDirectory(prefix="xs-lead-") as tmp:
            self.graph_png(Path(tmp) / IMAGE_NAME)
            return markdown_to_docx(self.to_markdown(IMAGE_NAME), path, base_dir=tmp)

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "markdown": self.markdown, "narrative": self.narrative,
                "citations": self.citations, "backend": self.backend, "notes": self.notes}


def _ascii(item_id: str, n: int) -> str:
    return item_id if item_id.isascii() else f"#{n}"


def summarize(lg: LinkGraph, group: dict[str, Any], llm=None, service=None, masked: bool = False) -> LeadSummary:
    items = sorted((lg.items[m] for m in group["members"]), key=lambda it: (str(it.get("date") or ""), str(it["id"])))
    keys = {m: lg.keys.get(m, set()) for m in group["members"]}
    summary = LeadSummary(group, items, keys, "", [], "offline", masked=masked)
    summary.narrative = summary.offline_narrative() + "\n" + OFFLINE_NOTE
    if llm is not None and service is not None:
        _narrate(summary, llm, service)
    if summary.backend == "offline":
        summary.citations = [{"n": n, "doc_id": it["id"]} for n, it in enumerate(items, start=1)]
    return summary


def _narrate(summary: LeadSummary, llm, service) -> None:
    """Replace the offline narrative by the model's, if it cites only the evidence given."""
    # The service's backend masks personal data on its way to a non-local endpoint (rag.guards).
    prompt = service.prompt("leads")
    hits = [Hit(it["id"], it["id"], 1.0, str(it.get("title") or ""), "case", summary.text_of(it), {}) for it in summary.items]
    sources = [{"n": n, "doc_id": h.doc_id, "title": h.title, "text": h.text} for n, h in enumerate(hits, start=1)]
    canary = f"XS-CANARY-{secrets.token_hex(6)}"
    try:
        text = llm.complete(prompt.render(overview=summary.overview(), sources=sources, canary=canary)).text
    except LLMError as exc:
        summary.notes.append(f"{exc} 已使用离线叙述。")
        return
    if canary in text:
        summary.notes.append("模型输出包含内部标记，已拒绝并使用离线叙述。")
        return
    text, valid, invalid = check_citations(text, len(hits))
    text, links = strip_foreign_links(text, hits)
    if invalid:
        summary.notes.append(f"已移除未提供的证据引用：{', '.join(f'S{n}' for n in invalid)}")
    if links:
        summary.notes.append(f"已移除 {links} 个证据中不存在的链接")
    if not valid:
        summary.notes.append("模型叙述没有引用任何证据，已使用离线叙述。")
        return
    summary.narrative = text.strip()
    summary.citations = citations_for(valid, hits)
    summary.backend = llm.name
