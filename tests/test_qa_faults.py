"""LLM faults seen through the 问答 tab handler: a clear Chinese message and the offline result,
never a hang. The endpoint is the scripted OpenAI-protocol server on 127.0.0.1 (tests/openai_server.py)."""

from __future__ import annotations

import os
import time

import pytest

from rag.documents import Document
from rag.service import Service
from rag.settings import Settings
from tests.conftest import ROOT
from tests.openai_server import BadJSON, CutStream, Hang, Reply, Status
from ui.qa import QAHandlers

QUESTION = "征信修复公司说能删除逾期记录，可信吗？"
DOCS = [
    Document("reg-003", "任何机构不得以收费为条件承诺删除真实的逾期记录。信息主体可以免费向征信机构提出异议。",
             "regulation", "征信业管理条例"),
    Document("scr-001", "专业征信修复，三天删除逾期记录，先交服务费，包过！", "script", "征信修复广告"),
]


@pytest.fixture
def make_handlers(openai_server, tmp_path, hash_embedder, monkeypatch):
    for name in [n for n in os.environ if n.startswith("XS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XS_CONFIG", os.devnull)

    def make(**overrides) -> QAHandlers:
        values = dict(data_dir=tmp_path / "data", prompts_dir=ROOT / "prompts", llm_base_url=openai_server.url + "/v1",
                      llm_model="test-model", llm_api_key="sk-test", llm_timeout_s=0.5, llm_max_retries=0,
                      llm_deadline_s=3.0)
        svc = Service(Settings(**{**values, **overrides}), embedder=hash_embedder)
        svc.kb.add_documents(DOCS)
        return QAHandlers(svc)

    return make


def ask(h: QAHandlers) -> tuple[str, str, float]:
    start = time.monotonic()
    history, _sources, status = list(h.ask(QUESTION, [], ""))[-1]
    return history[-1]["content"], status, time.monotonic() - start


def assert_offline_with(text: str, status: str, message: str) -> None:
    assert text.startswith(f"⚠ {message}"), text
    assert "以下为离线引擎的结果" in text and "未使用大语言模型" in text and "[S1]" in text
    assert message in status


def test_a_good_reply_is_shown(openai_server, make_handlers):
    openai_server.script(Reply("不能付费删除真实的逾期记录。[S1]"))
    h = make_handlers()
    text, status, _ = ask(h)
    assert text == "不能付费删除真实的逾期记录。[S1]" and status.startswith("完成")
    (entry,) = h.service.audit.entries()
    assert (entry["action"], entry["outcome"], entry["backend"], entry["model"], entry["prompt"]) == (
        "qa.ask", "ok", "openai:test-model", "test-model", "answer@v1")
    assert "reg-003" in entry["doc_ids"] and entry["input_hash"] == h.service.audit.fingerprint(QUESTION)
    assert entry["output_hash"] == h.service.audit.fingerprint(text)


def test_429_with_retry_after_is_retried_then_reported(openai_server, make_handlers):
    openai_server.script(Status(429, retry_after=0.3), Status(429, retry_after=0.3))
    text, status, _ = ask(make_handlers(llm_max_retries=1))
    assert_offline_with(text, status, "大模型接口限流（429）")
    first, second = openai_server.chat_requests
    assert second.at - first.at >= 0.25  # Retry-After honoured


def test_429_then_success_recovers(openai_server, make_handlers):
    openai_server.script(Status(429, retry_after=0.1), Reply("收费删除逾期记录不可信。[S1]"))
    text, status, _ = ask(make_handlers(llm_max_retries=1))
    assert text == "收费删除逾期记录不可信。[S1]"


def test_500(openai_server, make_handlers):
    openai_server.script(Status(500))
    text, status, _ = ask(make_handlers())
    assert_offline_with(text, status, "大模型接口服务端错误（500）")


def test_hang_times_out_instead_of_hanging(openai_server, make_handlers):
    openai_server.script(Hang(10))
    text, status, elapsed = ask(make_handlers())
    assert_offline_with(text, status, "大模型接口超时")
    assert elapsed < 3


def test_a_slow_trickle_is_cut_by_the_overall_deadline(openai_server, make_handlers):
    openai_server.script(Reply("不能付费删除真实的逾期记录。" * 20 + "[S1]", chunk_chars=2, chunk_delay=0.2))
    text, status, elapsed = ask(make_handlers(llm_deadline_s=1.0))
    assert_offline_with(text, status, "大模型接口在 1 秒内没有完成回答")
    assert elapsed < 2.5


def test_cut_stream(openai_server, make_handlers):
    openai_server.script(CutStream("不能付费删除"))
    text, status, _ = ask(make_handlers())
    assert_offline_with(text, status, "大模型接口的流式响应中途断开")


def test_clean_end_without_finish_reason(openai_server, make_handlers):
    openai_server.script(CutStream("不能付费删除", clean=True))
    text, status, _ = ask(make_handlers())
    assert_offline_with(text, status, "大模型接口的流式响应不完整")


def test_invalid_json(openai_server, make_handlers):
    openai_server.script(BadJSON())
    text, status, _ = ask(make_handlers())
    assert_offline_with(text, status, "大模型接口返回了无法解析的内容")


def test_the_breaker_fails_fast_once_the_endpoint_is_down(openai_server, make_handlers):
    h = make_handlers()
    openai_server.script(Status(500), Status(500), Status(500))
    for _ in range(3):
        ask(h)
    text, status, elapsed = ask(h)  # no request reaches the server: the script is not exhausted
    assert_offline_with(text, status, "大模型接口暂不可用（已连续失败 3 次）")
    assert elapsed < 1 and len(openai_server.chat_requests) == 3
    entries = list(h.service.audit.entries())
    assert [e["outcome"] for e in entries] == ["fallback"] * 4 and entries[-1]["backend"] == "offline"
