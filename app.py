"""Xiansuo workbench (Gradio): composes the tabs in ``ui/``. UI only: all work goes to rag.service.

Run: ``python app.py`` (the README's ``make run`` builds the store first). Bound to 127.0.0.1 by
default, analytics off, no share links.
"""

from __future__ import annotations

import importlib
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from rag.service import Service  # noqa: E402
from rag.settings import Settings, load_settings  # noqa: E402
from rag.views import CSS, badges  # noqa: E402
from ui.context import UIContext  # noqa: E402

# (tab label, element id, module). A tab whose module is not installed is left out.
TABS = [
    ("问答", "qa", "ui.qa"),
    ("投诉研判", "triage", "ui.triage"),
    ("回复起草", "draft", "ui.draft"),
    ("线索汇总", "leads", "ui.leads"),
    ("知识库", "kb", "ui.kb"),
    ("评测", "evals", "ui.evals"),
    ("管理", "admin", "ui.admin"),
]


def masking_label(settings: Settings) -> str:
    if not settings.llm_configured or settings.llm_is_local:
        return "本地处理"
    return "外发前脱敏" if not settings.llm_send_pii else "外发不脱敏（已配置）"


def header(service: Service) -> str:
    return badges(service.backend_label, not service.settings.llm_configured, masking_label(service.settings))


def available_tabs() -> list[tuple[str, str, object]]:
    tabs = []
    for label, tab_id, module in TABS:
        try:
            tabs.append((label, tab_id, importlib.import_module(module)))
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return tabs


def build_app(service: Service) -> gr.Blocks:
    ctx = UIContext(service)
    with gr.Blocks(title="线索 · 反欺诈调查助手", analytics_enabled=False) as demo:
        gr.Markdown("## 线索 · 消费金融反欺诈调查助手")
        ctx.shared["header"] = gr.HTML(header(service), elem_id="xs-header")
        with gr.Tabs():
            for label, tab_id, module in available_tabs():
                with gr.Tab(label, id=tab_id, elem_id=f"xs-tab-{tab_id}"):
                    module.build(ctx)  # type: ignore[attr-defined]
    return demo


def launch(settings: Settings | None = None, **kwargs):
    settings = settings or load_settings()
    demo = build_app(Service(settings))
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
