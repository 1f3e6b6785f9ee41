"""The workbench: handlers called directly, then the app launched once and used over HTTP."""

import socket

import httpx
import pytest

from rag.documents import Document
from rag.service import Service
from tests.fakes import FakeLLM
from ui.qa import QAHandlers

DOCS = [
    Document("reg-003", "## 异议\n任何机构不得以收费为条件承诺删除真实的逾期记录。信息主体可以免费向征信机构提出异议。",
             "regulation", "征信业管理条例"),
    Document("scr-001", "专业征信修复，三天删除逾期记录，先交服务费，包过！", "script", "征信修复广告",
             {"label": "credit_repair"}),
]


@pytest.fixture
def service(settings, hash_embedder):
    svc = Service(settings, embedder=hash_embedder, llm=None)
    svc.kb.add_documents(DOCS)
    return svc


def test_ask_handler_streams_an_answer_with_open_citations(service):
    wb = QAHandlers(service)
    steps = list(wb.ask("征信修复公司说能删除逾期记录，可信吗？", [], ""))
    history, sources, status = steps[-1]
    assert history[0] == {"role": "user", "content": "征信修复公司说能删除逾期记录，可信吗？"}
    assert "[S1]" in history[-1]["content"] and "未使用大语言模型" in history[-1]["content"]
    assert 'id="xs-src-1" open' in sources and "征信业管理条例" in sources
    assert status.startswith("完成")
    assert steps[0][2] == "检索中…"


def test_ask_handler_rejects_empty_and_overlong_questions(service):
    wb = QAHandlers(service)
    assert list(wb.ask("   ", [], ""))[-1][2] == "请输入问题。"
    assert "问题过长" in list(wb.ask("问" * 2001, [], ""))[-1][2]


def test_ask_handler_escapes_source_text(settings, hash_embedder):
    svc = Service(settings, embedder=hash_embedder, llm=None)
    svc.kb.add_documents([Document("case-1", "征信修复<script>alert(1)</script>删除逾期记录的广告。", "case", "恶意")])
    _, sources, _ = list(QAHandlers(svc).ask("征信修复删除逾期记录", [], ""))[-1]
    assert "<script>" not in sources and "&lt;script&gt;" in sources


def test_header_names_the_backend_and_masking(settings, hash_embedder):
    import app

    offline = app.header(Service(settings, embedder=hash_embedder, llm=None))
    assert "离线引擎" in offline and "本地处理" in offline
    remote = settings.model_copy(update={"llm_base_url": "https://api.example.com/v1", "llm_model": "m"})
    header = app.header(Service(remote, embedder=hash_embedder, llm=FakeLLM()))
    assert "大模型：m" in header and "外发前脱敏" in header


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_app_launches_and_answers_over_http(service):
    import app
    from gradio_client import Client

    demo = app.build_app(service)
    demo.queue(default_concurrency_limit=2)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                css=app.CSS, share=False)
    try:
        url = f"http://127.0.0.1:{port}/"
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "线索" in page.text
        client = Client(url, verbose=False)
        history, sources, status = client.predict("征信修复公司说能删除逾期记录，可信吗？", [], "", api_name="/ask")
        text = history[-1]["content"]
        text = text if isinstance(text, str) else "".join(part.get("text", "") for part in text)
        assert "[S1]" in text and "征信业管理条例" in sources
    finally:
        demo.close()


def test_answer_pipeline_is_a_langchain_runnable(service):
    from langchain_core.runnables import Runnable, RunnableLambda

    chain = service.answer_chain()
    assert isinstance(chain, Runnable)
    composed = RunnableLambda(lambda q: q.strip()) | chain
    out = composed.invoke("  征信修复公司说能删除逾期记录，可信吗？ ")
    assert out["backend"] == "offline" and out["citations"][0]["doc_id"] in {"reg-003", "scr-001"}
    assert f"[S{out['citations'][0]['n']}]" in out["answer"]
