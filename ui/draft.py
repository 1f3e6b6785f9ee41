"""回复起草 tab: complaint in, label (auto or chosen), an editable draft, each check, sources, DOCX."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from rag.draft import DraftError
from rag.draft_templates import LABEL_NAMES
from rag.draft_rules import RULE_NAMES
from rag.export import text_to_docx
from rag.service import Service
from rag.views import cited_numbers, sources_html
from ui.context import UIContext, guarded

AUTO = ""
LABEL_CHOICES = [("自动（投诉研判）", AUTO)] + [(f"{name}（{code}）", code) for code, name in LABEL_NAMES.items()]
CHECK_HEADERS = ["规则", "结果", "说明"]
EXAMPLES = [
    ["我司受借款人王某全权委托，要求贵司全额减免其全部息费，三日内答复我司协商专员，否则向监管集体投诉。", "proxy_rights"],
    ["刚才有个自称你们客服的人说我的学生贷账户不注销会影响征信，让我下载会议软件共享屏幕。", "impersonation"],
    ["我的账单被重复扣了两次，每次1265.40元，第二笔到现在还没退回来。", "legit_complaint"],
]


def check_rows(checks: list[dict[str, Any]]) -> list[list[str]]:
    return [[f"{c['rule']}（{RULE_NAMES.get(c['rule'], '引用来源')}）", "✅ 通过" if c["passed"] else "❌ 未通过", c["detail"]]
            for c in checks]


class DraftHandlers:
    def __init__(self, service: Service) -> None:
        self.service = service

    @guarded("draft.run")
    def draft(self, complaint: str, label: str = AUTO, request: gr.Request | None = None):
        """(draft text, check rows, sources HTML, status, state)."""
        state: dict[str, Any] = {}
        try:
            result = self.service.drafts.draft(complaint or "", label or None)
        except DraftError as exc:
            return "", [], sources_html([]), f"⚠ {exc}", state
        state = {"complaint": complaint, "label": result.label, "sources": len(result.sources)}
        failed = result.failed_rules
        status = (f"标签：{LABEL_NAMES.get(result.label, result.label)}（{'研判' if result.label_source == 'triage' else '人工指定'}）；"
                  f"引擎：{result.backend}；" + ("检查全部通过。" if not failed else f"⚠ {len(failed)} 项检查未通过，请修改后再发送。"))
        if result.notes:
            status += "\n\n" + "\n".join(f"- {n}" for n in result.notes)
        return (result.text, check_rows(result.checks), sources_html(result.sources, cited_numbers(result.text)),
                status, state)

    @guarded("draft.run", audit=False)
    def recheck(self, text: str, state: dict[str, Any] | None, request: gr.Request | None = None):
        """Re-run every check on the edited draft."""
        state = state or {}
        if not state.get("label"):
            return [], "请先生成草稿。"
        checks = self.service.drafts.check(text or "", state.get("complaint", ""), state["label"], state.get("sources"))
        bad = [c for c in checks if not c["passed"]]
        return check_rows(checks), ("修改后的草稿检查全部通过。" if not bad else f"⚠ 修改后的草稿有 {len(bad)} 项检查未通过。")

    @guarded("draft.run")
    def export_docx(self, text: str, state: dict[str, Any] | None, request: gr.Request | None = None) -> str | None:
        if not (text or "").strip():
            return None
        path = Path(tempfile.mkdtemp(prefix="xs-draft-")) / "回复草稿.docx"
        title = None
        if state and state.get("label"):
            from rag.draft_templates import TEMPLATES

            title = TEMPLATES[state["label"]].title
        return str(text_to_docx(text, path, title=title))


def build(ctx: UIContext) -> None:
    h = DraftHandlers(ctx.service)
    state = gr.State({})
    with gr.Row():
        with gr.Column(scale=1):
            complaint = gr.Textbox(label="投诉原文", lines=10, elem_id="xs-draft-complaint",
                                   placeholder="粘贴投诉、来信或工单内容")
            label = gr.Dropdown(LABEL_CHOICES, value=AUTO, label="研判标签", elem_id="xs-draft-label")
            go = gr.Button("起草回复", variant="primary", elem_id="xs-draft-go")
            gr.Examples(EXAMPLES, inputs=[complaint, label], label="示例")
            status = gr.Markdown("", elem_id="xs-draft-status")
        with gr.Column(scale=1):
            text = gr.Textbox(label="回复草稿（可编辑）", lines=18, elem_id="xs-draft-text", buttons=["copy"])
            with gr.Row():
                recheck = gr.Button("重新检查", elem_id="xs-draft-recheck")
                export = gr.Button("导出 DOCX", elem_id="xs-draft-export")
            docx = gr.File(label="下载", elem_id="xs-draft-file")
    checks = gr.Dataframe(headers=CHECK_HEADERS, value=[], label="逐条检查", wrap=True, elem_id="xs-draft-checks",
                          interactive=False)
    gr.Markdown("### 引用的规定（点击展开原文）")
    sources = gr.HTML(sources_html([]), elem_id="xs-draft-sources")
    go.click(h.draft, [complaint, label], [text, checks, sources, status, state], api_name="draft")
    recheck.click(h.recheck, [text, state], [checks, status], api_name=False)
    export.click(h.export_docx, [text, state], docx, api_name=False)
