"""Xiansuo workbench (Gradio): the page and its handlers. UI only: all work goes to rag.service.

Run: ``python app.py`` (the README's ``make run`` builds the store first). Bound to 127.0.0.1 by
default, analytics off, no share links.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from rag.retrieval import Filters  # noqa: E402
from rag.service import Service  # noqa: E402
from rag.settings import Settings, load_settings  # noqa: E402
from rag.views import CSS, badges, cited_numbers, sources_html  # noqa: E402

EXAMPLES = [
    "征信修复公司说能删除逾期记录，可信吗？",
    "自称法务公司的人代客户投诉要求全额减免，应该怎么处理？",
    "催收工作有哪些不得实施的行为？",
    "冒充客服让客户屏幕共享、转账到安全账户，有哪些特征？",
]
KIND_CHOICES = [("全部", ""), ("法规", "regulation"), ("案例", "case"), ("话术", "script")]


class Workbench:
    """The handlers, each a plain method so tests can call them without a browser."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def masking_label(self) -> str:
        s = self.service.settings
        if not s.llm_configured or s.llm_is_local:
            return "本地处理"
        return "外发前脱敏" if not s.llm_send_pii else "外发不脱敏（已配置）"

    def header(self) -> str:
        return badges(self.service.backend_label, not self.service.settings.llm_configured, self.masking_label())

    def ask(self, question: str, history: list[dict] | None, kind: str = ""):
        """Stream an answer: yields (chat history, sources HTML, status)."""
        history = list(history or [])
        question = (question or "").strip()
        if not question:
            yield history, sources_html([]), "请输入问题。"
            return
        if len(question) > 2000:
            yield history, sources_html([]), f"问题过长（{len(question)} 字），请控制在 2000 字以内。"
            return
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": "检索中…"}]
        yield history, sources_html([]), "检索中…"
        filters = Filters(kind=kind or None)
        for text, answer in self.service.ask_stream(question, filters):
            history[-1] = {"role": "assistant", "content": text}
            if answer is None:
                yield history, sources_html([]), "生成中…"
            else:
                cited = cited_numbers(answer.answer)
                status = "；".join(answer.notes) or f"完成：引用 {len(answer.citations)} 条来源"
                yield history, sources_html(answer.sources, cited), status


def build_app(service: Service) -> gr.Blocks:
    wb = Workbench(service)
    with gr.Blocks(title="线索 · 反欺诈调查助手", analytics_enabled=False) as demo:
        gr.Markdown("## 线索 · 消费金融反欺诈调查助手")
        gr.HTML(wb.header(), elem_id="xs-header")
        with gr.Tabs():
            with gr.Tab("问答", id="qa"):
                with gr.Row():
                    with gr.Column(scale=3):
                        chat = gr.Chatbot(label="对话", height=460, elem_id="xs-chat", buttons=["copy"])
                        with gr.Row():
                            question = gr.Textbox(label="问题", placeholder="例如：征信修复公司说能删除逾期记录，可信吗？",
                                                  scale=5, elem_id="xs-question", max_length=2000)
                            kind = gr.Dropdown(KIND_CHOICES, value="", label="资料范围", scale=1)
                        with gr.Row():
                            ask_btn = gr.Button("提问", variant="primary", elem_id="xs-ask")
                            clear_btn = gr.Button("清空对话")
                        status = gr.Markdown("", elem_id="xs-status")
                        gr.Examples(EXAMPLES, inputs=question, label="示例问题")
                    with gr.Column(scale=2):
                        gr.Markdown("### 来源（点击展开原文）")
                        sources = gr.HTML(sources_html([]), elem_id="xs-sources")
                ask_btn.click(wb.ask, [question, chat, kind], [chat, sources, status])
                question.submit(wb.ask, [question, chat, kind], [chat, sources, status])
                clear_btn.click(lambda: ([], sources_html([]), ""), None, [chat, sources, status])
    return demo


def launch(settings: Settings | None = None, **kwargs):
    settings = settings or load_settings()
    service = Service(settings)
    demo = build_app(service)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=64)
    return demo.launch(
        server_name=settings.host,
        server_port=settings.port,
        share=False,
        max_file_size=f"{settings.max_upload_mb}mb",
        allowed_paths=[],
        css=CSS,
        footer_links=[],
        **kwargs,
    )


if __name__ == "__main__":
    launch()
