"""线索汇总 tab: find groups by identifiers, ids or text; ranked groups; graph; summary; exports; 线索对碰."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from rag.lead_summary import short_label
from rag.leads import TYPE_NAMES, LeadFinder
from rag.service import Service
from rag.share import ShareError, export_share, match_share, read_share, write_share
from ui.context import UIContext, guarded

GROUP_HEADERS = ["编号", "风险", "件数", "时间跨度", "类型", "地区", "共用标识"]
MATCH_HEADERS = ["类型", "标识（本机构）", "本机构案件", "对方出现次数", "对方类型", "对方月份"]
MAX_QUERY = 5000


def group_rows(groups: list[dict[str, Any]]) -> list[list[Any]]:
    rows = []
    for g in groups:
        span = f"{g['first_date']} ~ {g['last_date']}" if g["first_date"] else ""
        labels = "、".join(f"{short_label(k)}×{v}" for k, v in g["labels"].items())
        shared = "、".join(f"{TYPE_NAMES.get(i['type'], i['type'])}:{i['normalized']}" for i in g["identifiers"][:4])
        rows.append([g.get("id", ""), round(g["score"], 2), g["size"], span, labels, "、".join(list(g["regions"])[:4]), shared])
    return rows


class LeadsHandlers:
    def __init__(self, service: Service, finder: LeadFinder | None = None) -> None:
        self.service = service
        self.finder = finder or LeadFinder(service)

    @guarded("leads.run")
    def search(self, query: str, request: gr.Request | None = None):
        """(group rows, choices update, status, state) for a request, or every group when it is empty."""
        query = (query or "").strip()
        if len(query) > MAX_QUERY:
            return [], gr.update(choices=[], value=None), f"输入过长（{len(query)} 字），请控制在 {MAX_QUERY} 字以内。", {}
        all_groups = self.finder.groups()["groups"]
        if not query:
            groups = all_groups
            status = f"共 {len(groups)} 个线索组（按风险排序）。"
        else:
            found = self.finder.related(query)
            ids = {tuple(g["members"]): g.get("id") for g in all_groups}
            groups = []
            for g in found["groups"]:
                g["id"] = ids.get(tuple(g["members"])) or ("单案 " + g["members"][0] if g["size"] == 1 else "")
                groups.append(g)
            named = "、".join(f"{TYPE_NAMES.get(i['type'], i['type'])} {i['normalized']}" for i in found["identifiers"])
            if not named and found["matched"]:  # a bare id or number, found by its literal text
                named = "、".join(found["matched"]) + "（按原文匹配）"
            status = (f"识别到：{named or '无标准标识'}；关联 {len(found['members'])} 件案件、{len(groups)} 个组。"
                      if groups else f"识别到：{named or '无标准标识'}；知识库中没有关联案件。")
        state = {"groups": {self._key(g): {"id": g.get("id") or "", "members": g["members"]} for g in groups}}
        choices = [self._key(g) for g in groups]
        return group_rows(groups), gr.update(choices=choices, value=choices[0] if choices else None), status, state

    @staticmethod
    def _key(g: dict[str, Any]) -> str:
        return f"{g.get('id') or g['members'][0]}（{g['size']} 件）"

    @guarded("leads.run")
    def summarize(self, choice: str | None, ids_text: str, state: dict[str, Any] | None,
                  request: gr.Request | None = None):
        """(summary markdown, graph picture path, state) for the chosen group or typed case ids."""
        state = dict(state or {})
        typed = [x.strip() for x in (ids_text or "").replace("，", ",").replace("、", ",").split(",") if x.strip()]
        target = typed or (state.get("groups") or {}).get(choice or "")
        if not target:
            return "请先选择一个线索组，或输入案件编号（逗号分隔）。", None, state
        try:
            summary = self.finder.summary(target)
        except ValueError as exc:
            return f"⚠ {exc}", None, state
        folder = Path(tempfile.mkdtemp(prefix="xs-lead-"))
        picture = summary.graph_png(folder / "lead-graph.png")
        state["summary"] = summary
        return summary.to_markdown(image=None), str(picture), state

    def _export(self, kind: str, state: dict[str, Any] | None) -> str | None:
        summary = (state or {}).get("summary")
        if summary is None:
            return None
        folder = Path(tempfile.mkdtemp(prefix="xs-lead-"))
        if kind == "docx":
            return str(summary.to_docx(folder / "线索汇总.docx"))
        return str(summary.write_markdown(folder / "线索汇总.md"))

    @guarded("leads.run")
    def export_docx(self, state: dict[str, Any] | None, request: gr.Request | None = None) -> str | None:
        return self._export("docx", state)

    @guarded("leads.run")
    def export_markdown(self, state: dict[str, Any] | None, request: gr.Request | None = None) -> str | None:
        return self._export("markdown", state)

    @guarded("leads.run")
    def share_export(self, institution: str, request: gr.Request | None = None):
        try:
            share = export_share(self.finder.store_items(), self.service.settings.alliance_key, institution or "")
        except ShareError as exc:
            return None, f"⚠ {exc}"
        path = write_share(share, Path(tempfile.mkdtemp(prefix="xs-share-")) / "线索对碰共享文件.json")
        return str(path), f"已导出 {share['count']} 条摘要（只含 HMAC 摘要、类型、标签和月份，不含任何原始标识）。"

    @guarded("leads.run")
    def share_match(self, upload: Any, institution: str, request: gr.Request | None = None):
        if not upload:
            return [], "请先上传对方的共享文件。"
        path = upload if isinstance(upload, str) else getattr(upload, "name", "")
        try:
            report = match_share(self.finder.store_items(), read_share(path), self.service.settings.alliance_key,
                                 institution or "")
        except ShareError as exc:
            return [], f"⚠ {exc}"
        rows = [[TYPE_NAMES.get(m["type"], m["type"]), m["normalized"], "、".join(m["ours"]["cases"][:6]),
                 m["theirs"]["count"], "、".join(short_label(k) for k in m["theirs"]["labels"]),
                 "、".join(m["theirs"]["months"][:6])] for m in report["matches"]]
        who = report["their_institution"] or "对方"
        return rows, f"与{who}比对：共同出现的标识 {len(rows)} 个（本机构 {report['our_identifiers']} 个标识，对方 {report['their_entries']} 条摘要）。"


def build(ctx: UIContext) -> None:
    h = LeadsHandlers(ctx.service)
    state = gr.State({})
    with gr.Row():
        query = gr.Textbox(label="查询", scale=5, elem_id="xs-leads-query", max_length=MAX_QUERY,
                           placeholder="输入手机号、微信号、银行卡、机构名称、案件编号，或粘贴一段投诉；留空列出全部线索组")
        go = gr.Button("查找线索", variant="primary", scale=1, elem_id="xs-leads-go")
    status = gr.Markdown("", elem_id="xs-leads-status")
    groups = gr.Dataframe(headers=GROUP_HEADERS, value=[], label="线索组（按风险排序）", wrap=True,
                          interactive=False, elem_id="xs-leads-groups")
    with gr.Row():
        choice = gr.Dropdown([], label="选择线索组", scale=2, elem_id="xs-leads-choice")
        ids = gr.Textbox(label="或输入案件编号（逗号分隔）", scale=3, elem_id="xs-leads-ids")
        make = gr.Button("生成线索汇总", scale=1, elem_id="xs-leads-summary")
    with gr.Row():
        with gr.Column(scale=3):
            summary = gr.Markdown("", elem_id="xs-leads-md")
        with gr.Column(scale=2):
            # No "share" button: an investigation graph never goes to a public host.
            picture = gr.Image(label="关联图", type="filepath", interactive=False, elem_id="xs-leads-graph",
                               buttons=["download", "fullscreen"])
            with gr.Row():
                md_btn = gr.Button("导出 Markdown")
                docx_btn = gr.Button("导出 DOCX")
            file = gr.File(label="下载", elem_id="xs-leads-file")
    with gr.Accordion("线索对碰（机构间只交换 HMAC 摘要）", open=False):
        institution = gr.Textbox(label="本机构名称", elem_id="xs-share-institution")
        with gr.Row():
            share_out = gr.Button("导出共享文件")
            share_file = gr.File(label="共享文件", elem_id="xs-share-file")
        upload = gr.File(label="上传对方的共享文件（.json）", file_types=[".json"], elem_id="xs-share-upload")
        match_btn = gr.Button("比对")
        share_status = gr.Markdown("")
        matches = gr.Dataframe(headers=MATCH_HEADERS, value=[], label="共同出现的标识", wrap=True, interactive=False)
    go.click(h.search, query, [groups, choice, status, state], api_name="leads")
    query.submit(h.search, query, [groups, choice, status, state], api_name=False)
    make.click(h.summarize, [choice, ids, state], [summary, picture, state], api_name=False)
    md_btn.click(h.export_markdown, state, file, api_name=False)
    docx_btn.click(h.export_docx, state, file, api_name=False)
    share_out.click(h.share_export, institution, [share_file, share_status], api_name=False)
    match_btn.click(h.share_match, [upload, institution], [matches, share_status], api_name=False)
