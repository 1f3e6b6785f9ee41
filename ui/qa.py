"""问答 tab: streamed, cited answers; each source opens to its passage.

The handler asks as the logged-in user (``Service.for_user``): the permission and request limit
are checked there, retrieval only sees documents the role may read, the answer and its sources
are masked for the role, and the exchange is audited. When the LLM endpoint fails, hangs or is
switched off by its circuit breaker, the answer says so in Chinese and gives the offline result.
"""

from __future__ import annotations

import gradio as gr

from rag.auth import AccessDenied
from rag.guards import InputTooLong
from rag.ratelimit import RateLimited
from rag.retrieval import Filters
from rag.service import Service
from rag.session import MAX_QUESTION
from rag.views import cited_numbers, sources_html
from ui.context import UIContext, principal_of

EXAMPLES = [
    "征信修复公司说能删除逾期记录，可信吗？",
    "自称法务公司的人代客户投诉要求全额减免，应该怎么处理？",
    "催收工作有哪些不得实施的行为？",
    "冒充客服让客户屏幕共享、转账到安全账户，有哪些特征？",
]
KIND_CHOICES = [("全部", ""), ("法规", "regulation"), ("案例", "case"), ("话术", "script")]


class QAHandlers:
    def __init__(self, service: Service) -> None:
        self.service = service

    def ask(self, question: str, history: list[dict] | None, kind: str = "", request: gr.Request | None = None):
        """Stream an answer: yields (chat history, sources HTML, status)."""
        history = list(history or [])
        question = (question or "").strip()
        if not question:
            yield history, sources_html([]), "请输入问题。"
            return
        if len(question) > MAX_QUESTION:
            yield history, sources_html([]), f"问题过长（{len(question)} 字），请控制在 {MAX_QUESTION} 字以内。"
            return
        try:
            session = self.service.for_user(principal_of(self.service, request))
            steps = session.ask_stream(question, Filters(kind=kind or None))  # permission and limit checks
        except (AccessDenied, RateLimited, InputTooLong) as exc:
            yield history, sources_html([]), f"⚠ {exc}"
            return
        history += [{"role": "user", "content": session.show(question)}, {"role": "assistant", "content": "检索中…"}]
        yield history, sources_html([]), "检索中…"
        for text, answer in steps:
            history[-1] = {"role": "assistant", "content": text}
            if answer is None:
                yield history, sources_html([]), "生成中…"
            else:
                status = "；".join(answer.notes) or f"完成：引用 {len(answer.citations)} 条来源"
                yield history, sources_html(answer.sources, cited_numbers(answer.answer)), status


QAHandlers.ask.xs_permission = "qa.ask"  # type: ignore[attr-defined]  # checked inside, by UserSession.ask_stream


def build(ctx: UIContext) -> None:
    h = QAHandlers(ctx.service)
    with gr.Row():
        with gr.Column(scale=3):
            chat = gr.Chatbot(label="对话", height=460, elem_id="xs-chat", buttons=["copy"])
            with gr.Row():
                question = gr.Textbox(label="问题", placeholder="例如：征信修复公司说能删除逾期记录，可信吗？",
                                      scale=5, elem_id="xs-question", max_length=MAX_QUESTION)
                kind = gr.Dropdown(KIND_CHOICES, value="", label="资料范围", scale=1)
            with gr.Row():
                ask_btn = gr.Button("提问", variant="primary", elem_id="xs-ask")
                clear_btn = gr.Button("清空对话")
            status = gr.Markdown("", elem_id="xs-status")
            gr.Examples(EXAMPLES, inputs=question, label="示例问题")
        with gr.Column(scale=2):
            gr.Markdown("### 来源（点击展开原文）")
            sources = gr.HTML(sources_html([]), elem_id="xs-sources")
    ask_btn.click(h.ask, [question, chat, kind], [chat, sources, status], api_name="ask")
    question.submit(h.ask, [question, chat, kind], [chat, sources, status], api_name=False)
    clear_btn.click(lambda: ([], sources_html([]), ""), None, [chat, sources, status], api_name=False)
