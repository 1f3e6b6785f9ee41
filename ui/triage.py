"""投诉研判 tab: one complaint or a file of them → label, confidence chart, red flags, evidence, action;
and 模板投诉: a file of complaints → template campaigns with their shared passage highlighted.

Staff confirm or correct each label; every decision is appended to ``<data_dir>/decisions.jsonl``
(who, when, label, the engine's label, the text's sha256 in base32 and the text with personal data
masked — the file is a log), so corrected items can be
exported as labelled cases (``python -m ingest decisions-cases.jsonl --kind case``) or eval items.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from rag.service import Service
from rag.triage import TriageResult, TriageUnavailable, label_name
from rag.views import KIND_NAMES, highlight
from rag.audit import b32
from rag.pii import mask
from ui.context import UIContext, guarded, visible_doc_ids

MAX_TEXT = 5000
MAX_BATCH = 5000
EXAMPLE = ("您好，我是借款人张某的委托代理人，我司法务团队已获其全权委托。请贵司立即停止催收，减免全部利息罚息，"
           "仅偿还本金，之后请勿再直接联系委托人，否则我们将向金融监管部门集体投诉。")


def evidence_html(result: TriageResult | None) -> str:
    """Similar cases and matching scripts as collapsible blocks that open to their text."""
    if result is None or not result.evidence:
        return '<div class="xs-empty">暂无相似案例或话术。</div>'
    blocks = []
    for n, e in enumerate(result.evidence, start=1):
        kind = KIND_NAMES.get(e.kind, e.kind)
        meta = " · ".join(x for x in (kind, e.doc_id, label_name(e.label) if e.label else "", f"相似度 {e.score:.2f}",
                                      {"dense": "语义", "keyword": "字面", "dense+keyword": "语义+字面"}.get(e.via, ""))
                          if x)
        blocks.append(f'<details class="xs-src" id="xs-ev-{n}"><summary>{html.escape(e.title or e.doc_id)}'
                      f'<span class="xs-meta">{html.escape(meta)}</span></summary>'
                      f"<p>{highlight(e.text, result.red_flags)}</p></details>")
    return "".join(blocks)


def verdict_markdown(result: TriageResult) -> str:
    head = "⚠️ 建议转人工研判" if result.abstain else f"**{label_name(result.label)}**"
    lines = [f"### {head}", f"- 最可能的标签：{label_name(result.label)}，置信度 {result.confidence:.0%}",
             f"- 推荐处置：{result.action}",
             f"- 红旗短语：{'、'.join(result.red_flags) if result.red_flags else '未发现'}",
             f"- 引擎：{'离线引擎（未使用大模型）' if result.backend == 'offline' else result.backend}"]
    llm = result.signals.get("llm") or {}
    if llm.get("error"):
        lines.append(f"- 大模型投票未采用：{llm['error']}")
    return "\n".join(lines)


def scores_frame(result: TriageResult | None) -> pd.DataFrame:
    if result is None:
        # Typed empty columns: the chart's axis types come from the first frame it gets (an untyped
        # empty column reads as numbers, and every later label would be drawn at NaN).
        return pd.DataFrame({"标签": pd.Series([], dtype=str), "概率": pd.Series([], dtype=float)})
    rows = sorted(result.scores.items(), key=lambda kv: -kv[1])
    # Short Chinese names on the chart's axis (the full name with its code is in the verdict above).
    return pd.DataFrame({"标签": [label_name(k).split("（")[0] for k, _ in rows], "概率": [float(v) for _, v in rows]})


def campaigns_html(found, texts: dict[str, str], limit: int = 50) -> str:
    """Template campaigns: size, dates, channels, shared identifiers, the shared passage highlighted."""
    if not found:
        return '<div class="xs-empty">没有发现模板投诉群。</div>'
    blocks = []
    for n, c in enumerate(found[:limit], start=1):
        text = texts.get(c.representative, "")
        channels = "、".join(f"{k} {v}" for k, v in c.channels.items()) or "未知"
        ids = "、".join(f"{d['value']}（{d['members']} 条）" for d in c.identifiers[:12]) or "无"
        blocks.append(
            f'<details class="xs-src" id="xs-camp-{n}"{" open" if n == 1 else ""}><summary>模板投诉群 {n}：{c.size} 条'
            f'<span class="xs-meta">{html.escape(c.date_from or "?")} 至 {html.escape(c.date_to or "?")} · '
            f"{html.escape(channels)} · 相似度 {c.similarity:.2f}</span></summary>"
            f"<p><b>共享标识：</b>{html.escape(ids)}</p>"
            f"<p><b>代表文本（{html.escape(c.representative)}，高亮为成员共有的段落）：</b><br>"
            f"{highlight(text, [text[a:b] for a, b in c.shared_spans])}</p>"
            f"<p><b>成员：</b>{html.escape('、'.join(c.members[:200]))}</p></details>")
    return "".join(blocks)


class TriageHandlers:
    def __init__(self, service: Service) -> None:
        self.service = service
        self.decisions = Path(service.settings.data_dir) / "decisions.jsonl"

    def labels(self) -> list[str]:
        try:
            return list(self.service.triage.knowledge().model.labels)
        except TriageUnavailable:
            return []

    @guarded("triage.run")
    def classify(self, text: str, request: gr.Request | None = None):
        """→ (verdict markdown, scores frame, highlighted text, evidence HTML, state)."""
        text = (text or "").strip()
        if not text:
            return "请粘贴投诉内容。", scores_frame(None), "", evidence_html(None), None
        if len(text) > MAX_TEXT:
            return f"内容过长（{len(text)} 字），请控制在 {MAX_TEXT} 字以内。", scores_frame(None), "", evidence_html(None), None
        try:
            result = self.service.triage.classify(text)
        except TriageUnavailable as exc:
            return str(exc), scores_frame(None), "", evidence_html(None), None
        seen = set(visible_doc_ids(self.service, [e.doc_id for e in result.evidence]))  # the role's access levels
        result.evidence = [e for e in result.evidence if e.doc_id in seen]
        marked = f'<div class="xs-src"><p>{highlight(text, result.red_flags)}</p></div>'
        state = {"text": text, "label": result.label, "abstain": result.abstain, "confidence": result.confidence}
        return verdict_markdown(result), scores_frame(result), marked, evidence_html(result), state

    @guarded("triage.run")
    def classify_file(self, path: str | None, text_field: str = "text", request: gr.Request | None = None):
        """→ (table, export file path, status)."""
        from rag.cli import CLIError
        from rag.cli_triage import read_rows

        if not path:
            return pd.DataFrame(), None, "请上传 CSV / XLSX / JSONL 文件。"
        try:
            rows = read_rows(path, (text_field or "text").strip())
        except CLIError as exc:
            return pd.DataFrame(), None, str(exc)
        if len(rows) > MAX_BATCH:
            return pd.DataFrame(), None, f"文件有 {len(rows)} 条，单次最多 {MAX_BATCH} 条，请拆分后上传。"
        start = time.perf_counter()
        try:
            results = self.service.triage.classify_many([r["text"] for r in rows])
        except TriageUnavailable as exc:
            return pd.DataFrame(), None, str(exc)
        seconds = time.perf_counter() - start
        table = pd.DataFrame([{
            "编号": r["id"], "标签": label_name(res.label), "置信度": round(res.confidence, 3),
            "转人工": "是" if res.abstain else "否", "红旗短语": "、".join(res.red_flags),
            "相似案例": "、".join(e.doc_id for e in res.evidence if e.kind == "case"),
            "推荐处置": res.action, "投诉内容": r["text"][:200],
        } for r, res in zip(rows, results)])
        out = Path(tempfile.mkdtemp(prefix="xs-triage-")) / "研判结果.csv"
        table.to_csv(out, index=False, encoding="utf-8-sig", quoting=csv.QUOTE_MINIMAL)
        n_abstain = sum(r.abstain for r in results)
        status = f"完成 {len(rows)} 条，用时 {seconds:.1f} 秒（{len(rows) / max(seconds, 1e-9):.1f} 条/秒），转人工 {n_abstain} 条。"
        return table, str(out), status

    @guarded("triage.run")
    def campaigns(self, path: str | None, text_field: str = "text", min_size: float = 3,
                  request: gr.Request | None = None):
        """→ (clusters HTML, JSON export path, status)."""
        from rag.campaigns import Complaint, find_campaigns
        from rag.cli import CLIError
        from rag.cli_triage import read_rows

        if not path:
            return campaigns_html([], {}), None, "请上传 CSV / XLSX / JSONL 文件。"
        try:
            rows = read_rows(path, (text_field or "text").strip())
        except CLIError as exc:
            return campaigns_html([], {}), None, str(exc)
        items = [Complaint(r["id"], r["text"], str(r.get("date") or ""), str(r.get("channel") or "")) for r in rows]
        start = time.perf_counter()
        found = find_campaigns(items, min_size=max(2, int(min_size or 3)))
        out = Path(tempfile.mkdtemp(prefix="xs-campaigns-")) / "模板投诉群.json"
        out.write_text(json.dumps([c.to_dict() for c in found], ensure_ascii=False, indent=1), encoding="utf-8")
        status = (f"{len(items)} 条投诉，发现 {len(found)} 个模板投诉群（用时 {time.perf_counter() - start:.1f} 秒）。")
        return campaigns_html(found, {i.id: i.text for i in items}), str(out), status

    @guarded("triage.run")
    def record(self, state: dict[str, Any] | None, decided: str, who: str, note: str = "",
               request: gr.Request | None = None) -> str:
        """Append a confirm / correct decision to decisions.jsonl (personal data masked: it is a log)."""
        if not state:
            return "请先研判一条投诉。"
        user = getattr(request, "username", None) or (who or "").strip()
        if not user:
            return "请填写处理人。"
        decided = decided or state["label"]
        if decided not in self.labels():
            return f"标签 {decided!r} 不在标签集合中。"
        row = {
            "who": user, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "label": decided,
            "original_label": state["label"], "original_abstain": state["abstain"],
            "action": "confirm" if decided == state["label"] else "correct",
            "text_hash": b32(hashlib.sha256(state["text"].encode("utf-8")).digest()),
            "text": mask(state["text"]), "note": mask((note or "").strip()[:500]),
        }
        self.decisions.parent.mkdir(parents=True, exist_ok=True)
        with open(self.decisions, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        verb = "已确认" if row["action"] == "confirm" else f"已更正为 {label_name(decided)}"
        return f"{verb}（{user}，{row['when']}），已记录到 {self.decisions.name}。"

    @guarded("triage.run")
    def export_cases(self, request: gr.Request | None = None) -> tuple[str | None, str]:
        """Decisions as labelled cases (JSONL, kind=case), newest decision per text wins."""
        if not self.decisions.exists():
            return None, "还没有任何研判记录。"
        latest: dict[str, dict[str, Any]] = {}
        with open(self.decisions, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    latest[row.get("text_hash") or row.get("text_sha256")] = row
        out = Path(tempfile.mkdtemp(prefix="xs-decisions-")) / "decisions-cases.jsonl"
        with open(out, "w", encoding="utf-8") as f:
            for sha, row in latest.items():
                f.write(json.dumps({"id": f"dec-{sha[:12]}", "kind": "case", "text": row["text"], "label": row["label"],
                                    "date": row["when"][:10], "channel": "研判复核", "outcome": f"{row['who']} {row['action']}",
                                    "source": "decisions"}, ensure_ascii=False) + "\n")
        return str(out), f"导出 {len(latest)} 条已复核案例，可用 python -m ingest 文件 --kind case 导入。"


def build(ctx: UIContext) -> None:
    h = TriageHandlers(ctx.service)
    state = gr.State(None)
    with gr.Tabs():
        _single(h, state)
        _batch(h)
        _campaigns(h)


def _single(h: TriageHandlers, state: gr.State) -> None:
    with gr.Tab("单条研判"):
        with gr.Row():
            with gr.Column(scale=3):
                text = gr.Textbox(label="投诉内容", lines=8, max_length=MAX_TEXT, elem_id="xs-triage-text",
                                  placeholder="粘贴一条投诉、短信或通话记录")
                go = gr.Button("研判", variant="primary", elem_id="xs-triage-go")
                gr.Examples([EXAMPLE], inputs=text, label="示例")
                verdict = gr.Markdown(elem_id="xs-triage-verdict")
                chart = gr.BarPlot(scores_frame(None), x="标签", y="概率", y_lim=[0, 1], sort="-y", height=300,
                                   x_label_angle=-30,
                                   label="各标签概率", elem_id="xs-triage-chart")
                marked = gr.HTML(elem_id="xs-triage-marked")
            with gr.Column(scale=2):
                gr.Markdown("### 相似案例与匹配话术（点击展开原文）")
                evidence = gr.HTML(evidence_html(None), elem_id="xs-triage-evidence")
                gr.Markdown("### 复核")
                decided = gr.Dropdown(choices=[], label="确认或更正标签（研判后可选）", allow_custom_value=False)
                who = gr.Textbox(label="处理人", max_length=50)
                note = gr.Textbox(label="备注（可选）", max_length=500)
                save = gr.Button("记录复核结果", elem_id="xs-triage-save")
                saved = gr.Markdown(elem_id="xs-triage-saved")
                export = gr.Button("导出已复核案例")
                export_file = gr.File(label="已复核案例（JSONL）")
        go.click(h.classify, [text], [verdict, chart, marked, evidence, state], api_name="triage") \
            .then(lambda s: gr.update(choices=h.labels(), value=(s or {}).get("label")), [state], [decided])
        save.click(h.record, [state, decided, who, note], [saved], api_name=False)
        export.click(h.export_cases, None, [export_file, saved], api_name=False)


def _batch(h: TriageHandlers) -> None:
    with gr.Tab("批量研判"):
        upload = gr.File(label="上传 CSV / XLSX / JSONL", file_types=[".csv", ".xlsx", ".jsonl"], type="filepath",
                         elem_id="xs-triage-upload")
        field = gr.Textbox(value="text", label="文本列名")
        run = gr.Button("批量研判", variant="primary", elem_id="xs-triage-batch")
        status = gr.Markdown()
        table = gr.Dataframe(label="研判结果", wrap=True, max_height=520, elem_id="xs-triage-table", interactive=False)
        download = gr.File(label="导出结果（CSV）")
        run.click(h.classify_file, [upload, field], [table, download, status], api_name=False)


def _campaigns(h: TriageHandlers) -> None:
    with gr.Tab("模板投诉"):
        gr.Markdown("上传一批投诉，找出同一模板改名换数写成的投诉群（MinHash 字符片段相似 + LSH）。")
        with gr.Row():
            upload = gr.File(label="上传 CSV / XLSX / JSONL（可含 date、channel 列）",
                             file_types=[".csv", ".xlsx", ".jsonl"], type="filepath")
            with gr.Column():
                field = gr.Textbox(value="text", label="文本列名")
                size = gr.Number(value=3, precision=0, minimum=2, label="最小群大小")
                run = gr.Button("查找模板投诉", variant="primary", elem_id="xs-campaigns-go")
        status = gr.Markdown()
        clusters = gr.HTML(campaigns_html([], {}), elem_id="xs-campaigns")
        download = gr.File(label="导出（JSON）")
        run.click(h.campaigns, [upload, field, size], [clusters, download, status], api_name=False)
