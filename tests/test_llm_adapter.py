"""The OpenAI adapter (rag.llm) and the answer pipeline over real HTTP, against tests/openai_server.py."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import pytest

from rag.answer import OFFLINE_NOTE, Answerer
from rag.documents import Hit
from rag.llm import CircuitBreaker, LLMError, OpenAIChat
from rag.prompts import load_prompt
from rag.settings import Settings
from tests.openai_server import BadJSON, CutStream, Hang, OpenAIServer, Reply, Status

ROOT = Path(__file__).resolve().parent.parent
MESSAGES = [
    {"role": "system", "content": "你是测试助手。"},
    {"role": "user", "content": "冒充客服诈骗有哪些特征？"},
]
TIMEOUT = 0.5


@pytest.fixture(autouse=True)
def _hermetic_settings(monkeypatch):
    """No XS_* variable or xiansuo.toml of the developer's may change what goes over the wire."""
    for name in [n for n in os.environ if n.startswith("XS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XS_CONFIG", os.devnull)


def make_settings(server: OpenAIServer, **overrides) -> Settings:
    values = dict(
        llm_base_url=server.url + "/v1",
        llm_model="test-model",
        llm_api_key="sk-test",
        llm_timeout_s=TIMEOUT,
        llm_max_retries=0,
        llm_deadline_s=5.0,
    )
    return Settings(**{**values, **overrides})


def make_chat(server: OpenAIServer, breaker: CircuitBreaker | None = None, **overrides) -> OpenAIChat:
    return OpenAIChat(make_settings(server, **overrides), breaker=breaker)


def consume(stream) -> tuple[str, LLMError | None]:
    """The text a stream yielded before it ended, and the error it ended with."""
    text = ""
    try:
        for piece in stream:
            text += piece
    except LLMError as exc:
        return text, exc
    return text, None


# -- the wire ---------------------------------------------------------------------------------------


def test_complete_sends_the_exact_request_and_reads_usage(openai_server):
    text = "冒充客服会要求转账到“安全账户”。"
    openai_server.script(Reply(text))
    reply = make_chat(openai_server).complete(MESSAGES)

    assert reply.text == text
    # The server counts one token per character, so the usage read back can be checked exactly.
    assert reply.prompt_tokens == sum(len(m["content"]) for m in MESSAGES)
    assert reply.completion_tokens == len(text)
    assert reply.extra["finish_reason"] == "stop"
    (req,) = openai_server.requests
    assert (req.method, req.path) == ("POST", "/v1/chat/completions")
    assert req.body == {
        "model": "test-model",
        "messages": MESSAGES,
        "temperature": 0.1,
        "max_tokens": 1024,
        "stream": False,
    }
    assert req.headers["authorization"] == "Bearer sk-test"
    assert float(req.headers["x-stainless-read-timeout"]) == TIMEOUT  # not the SDK's 600 s default


def test_max_tokens_field_is_configurable(openai_server):
    openai_server.script(Reply("好的"))
    make_chat(openai_server, llm_max_tokens_field="max_completion_tokens", llm_max_tokens=64).complete(MESSAGES)
    body = openai_server.requests[0].body
    assert body["max_completion_tokens"] == 64
    assert "max_tokens" not in body


def test_stream_reassembles_the_text_and_asks_for_usage(openai_server):
    text = "第一，冒充客服；第二，索要验证码；第三，诱导转账到安全账户。[S1]"
    openai_server.script(Reply(text, chunk_chars=3))
    pieces = list(make_chat(openai_server).stream(MESSAGES))

    assert "".join(pieces) == text
    assert len(pieces) == -(-len(text) // 3)  # really streamed, not one blob
    (req,) = openai_server.requests
    assert req.body["stream"] is True
    assert req.body["stream_options"] == {"include_usage": True}
    assert req.body["messages"] == MESSAGES


def test_models_endpoint_lists_the_scripted_models(openai_server):
    from rag.backends import make_openai_client

    client = make_openai_client(make_settings(openai_server))
    assert [m.id for m in client.models.list()] == ["test-model"]
    assert openai_server.requests[0].path == "/v1/models"


def test_environment_openai_credentials_never_reach_the_configured_endpoint(openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret-must-not-leak")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env-secret")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env-secret")
    openai_server.script(Reply("好的"), Reply("好的"))
    chat = make_chat(openai_server, llm_api_key="")
    chat.complete(MESSAGES)
    list(chat.stream(MESSAGES))

    assert len(openai_server.requests) == 2
    for req in openai_server.requests:
        assert req.headers["authorization"] == "Bearer not-needed"
        assert "openai-organization" not in req.headers
        assert "openai-project" not in req.headers
        assert not any("env-secret" in value for value in req.headers.values())


# -- failures ---------------------------------------------------------------------------------------


def test_429_honours_retry_after_then_succeeds(openai_server):
    openai_server.script(Status(429, retry_after=1), Reply("重试后成功"))
    reply = make_chat(openai_server, llm_max_retries=2).complete(MESSAGES)

    assert reply.text == "重试后成功"
    first, second = openai_server.requests
    # The SDK's own first back-off is at most 0.5 s, so a gap of ~1 s is the server's Retry-After.
    assert second.at - first.at >= 0.9
    assert second.headers["x-stainless-retry-count"] == "1"
    assert second.body == first.body


def test_500_beyond_retries_raises_a_chinese_error(openai_server):
    openai_server.script(Status(500), Status(500))
    with pytest.raises(LLMError) as err:
        make_chat(openai_server, llm_max_retries=1).complete(MESSAGES)

    assert str(err.value) == "大模型接口服务端错误（500），重试后仍失败。"
    assert len(openai_server.requests) == 2  # one try + one retry, then no more


def test_401_names_the_setting_to_fix_without_echoing_the_key(openai_server):
    openai_server.script(Status(401, message="invalid key sk-test"))
    with pytest.raises(LLMError) as err:
        make_chat(openai_server, llm_max_retries=2).complete(MESSAGES)
    assert "XS_LLM_API_KEY" in str(err.value)
    assert "sk-test" not in str(err.value)
    assert len(openai_server.requests) == 1  # 401 is not retried


def test_a_hang_times_out_within_the_read_timeout(openai_server):
    openai_server.script(Hang(10))
    start = time.monotonic()
    with pytest.raises(LLMError) as err:
        make_chat(openai_server).complete(MESSAGES)
    elapsed = time.monotonic() - start

    assert "超时" in str(err.value)
    assert TIMEOUT * 0.9 <= elapsed < 3 * TIMEOUT
    assert len(openai_server.requests) == 1


def test_a_stream_that_stalls_times_out_and_keeps_what_arrived(openai_server):
    openai_server.script(Hang(10, partial_text="冒充客服"))
    start = time.monotonic()
    text, err = consume(make_chat(openai_server).stream(MESSAGES))

    assert text == "冒充客服"
    assert err is not None and "超时" in str(err)
    assert time.monotonic() - start < 3 * TIMEOUT


def test_the_deadline_bounds_a_stream_that_trickles_forever(openai_server):
    # A chunk every 0.2 s keeps the read timeout happy; only the overall deadline can stop it.
    openai_server.script(Reply("慢" * 200, chunk_chars=1, chunk_delay=0.2))
    start = time.monotonic()
    text, err = consume(make_chat(openai_server, llm_deadline_s=1.0).stream(MESSAGES))
    elapsed = time.monotonic() - start

    assert err is not None and "1 秒内没有完成" in str(err) and "XS_LLM_DEADLINE_S" in str(err)
    assert 0 < len(text) < 200
    assert 0.9 <= elapsed < 2.0  # without the deadline: 200 × 0.2 s = 40 s


def test_no_retry_is_sent_after_the_deadline(openai_server):
    # Retry-After (1.5 s) outlives the deadline (0.4 s): the caller gives up, and the SDK's retry,
    # still sleeping in the worker thread, must not reach the server afterwards.
    openai_server.script(Status(429, retry_after=1.5))
    start = time.monotonic()
    with pytest.raises(LLMError) as err:
        make_chat(openai_server, llm_max_retries=2, llm_deadline_s=0.4).complete(MESSAGES)

    assert time.monotonic() - start < 1.0
    assert "秒内没有完成" in str(err.value)
    time.sleep(1.7)
    assert len(openai_server.requests) == 1


def test_a_cut_stream_raises_and_keeps_what_arrived(openai_server):
    openai_server.script(CutStream("冒充客服诈骗"))
    text, err = consume(make_chat(openai_server).stream(MESSAGES))
    assert text == "冒充客服诈骗"
    assert err is not None and str(err) == "大模型接口的流式响应中途断开，已放弃该回答。"


def test_a_stream_without_its_finish_chunk_is_not_taken_as_complete(openai_server):
    # The HTTP body ends cleanly, but there is no finish_reason and no [DONE]: the answer is cut.
    openai_server.script(CutStream("冒充客服诈骗", clean=True))
    text, err = consume(make_chat(openai_server).stream(MESSAGES))
    assert text == "冒充客服诈骗"
    assert err is not None and "不完整" in str(err)


@pytest.mark.parametrize("streaming", [False, True])
def test_invalid_json_raises(openai_server, streaming):
    openai_server.script(BadJSON())
    chat = make_chat(openai_server)
    with pytest.raises(LLMError) as err:
        if streaming:
            list(chat.stream(MESSAGES))
        else:
            chat.complete(MESSAGES)
    assert "无法解析" in str(err.value)
    assert openai_server.requests[0].body["stream"] is streaming


def test_connection_refused_names_the_base_url_setting():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chat = OpenAIChat(Settings(llm_base_url=f"http://127.0.0.1:{port}/v1", llm_model="m", llm_max_retries=0))
    with pytest.raises(LLMError) as err:
        chat.complete(MESSAGES)
    assert "XS_LLM_BASE_URL" in str(err.value)


# -- circuit breaker --------------------------------------------------------------------------------


def test_circuit_breaker_opens_fails_fast_and_closes_after_a_successful_probe(openai_server):
    breaker = CircuitBreaker(threshold=2, cooldown_s=0.5)
    chat = make_chat(openai_server, breaker=breaker)
    openai_server.script(Status(500), Status(500))
    for _ in range(2):
        with pytest.raises(LLMError, match="服务端错误"):
            chat.complete(MESSAGES)
    assert len(openai_server.requests) == 2

    start = time.monotonic()
    with pytest.raises(LLMError, match="^大模型接口暂不可用"):
        chat.complete(MESSAGES)
    with pytest.raises(LLMError, match="^大模型接口暂不可用"):
        list(chat.stream(MESSAGES))
    assert time.monotonic() - start < 0.1
    assert len(openai_server.requests) == 2  # failed fast: nothing sent

    time.sleep(0.6)
    openai_server.script(Reply("恢复了"))
    assert chat.complete(MESSAGES).text == "恢复了"
    assert (breaker.failures, breaker.opened_at) == (0, None)
    assert len(openai_server.requests) == 3


def test_circuit_breaker_reopens_when_the_probe_fails(openai_server):
    breaker = CircuitBreaker(threshold=1, cooldown_s=0.3)
    chat = make_chat(openai_server, breaker=breaker)
    openai_server.script(Status(503))
    with pytest.raises(LLMError, match="503"):
        chat.complete(MESSAGES)
    time.sleep(0.35)
    openai_server.script(Status(503))
    with pytest.raises(LLMError, match="503"):
        chat.complete(MESSAGES)  # the probe goes out and fails
    with pytest.raises(LLMError, match="暂不可用"):
        chat.complete(MESSAGES)  # re-opened at once
    assert len(openai_server.requests) == 2


# -- the test server itself can fail a test ---------------------------------------------------------


def test_the_server_reports_an_exhausted_script_and_unused_behaviours():
    server = OpenAIServer().start()
    try:
        with pytest.raises(LLMError, match="599"):
            OpenAIChat(make_settings(server, llm_max_retries=2)).complete(MESSAGES)
        assert len(server.requests) == 1  # x-should-retry: false stops the client's retries
        server.script(Reply("never asked for"))
        problems = server.problems()
    finally:
        server.stop()
    assert any("script exhausted" in p for p in problems)
    assert any("never used" in p for p in problems)


# -- the answer pipeline end to end -----------------------------------------------------------------

QUESTION = "冒充客服要求转账到安全账户怎么办？"
OFFICIAL_LINK = "https://www.nfra.gov.cn/notice/2024-12"


class StubRetriever:
    """Returns fixed hits and records each search (the retriever is not what is under test)."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.hits = [
            Hit(
                "script-007", "script-007#0", 0.9, "冒充客服话术", "script",
                "冒充客服诈骗常见话术：声称账户异常，要求把资金转账到所谓安全账户。正规机构不会要求客户转账到安全账户。",
                {},
            ),
            Hit(
                "reg-012", "reg-012#1", 0.7, "监管风险提示", "regulation",
                f"监管提示：遇到自称客服要求转账的，请挂断并拨打官方客服电话核实。通知原文见 {OFFICIAL_LINK} 。",
                {},
            ),
        ]

    def search(self, question, k, filters, max_per_doc):
        self.calls.append((question, k, filters, max_per_doc))
        return list(self.hits)


@pytest.fixture
def answerer(openai_server):
    def build(**overrides) -> Answerer:
        prompt = load_prompt("answer", ROOT / "prompts")
        return Answerer(StubRetriever(), prompt, make_chat(openai_server, **overrides), k=2)

    return build


def test_answer_with_a_valid_citation_is_kept(openai_server, answerer):
    text = "正规机构不会要求客户把资金转到安全账户，应立即停止转账并核实。[S1]"
    openai_server.script(Reply(text))
    qa = answerer()
    answer = qa.ask(QUESTION)

    assert answer.answer == text
    assert answer.backend == "openai:test-model"
    assert answer.citations == [{"n": 1, "doc_id": "script-007", "chunk_id": "script-007#0"}]
    assert answer.prompt["prompt_id"] == "answer"
    assert qa.retriever.calls == [(QUESTION, 2, None, 2)]
    (req,) = openai_server.requests
    assert req.body["stream"] is True
    user = req.messages[1]["content"]
    assert "[S1] 《冒充客服话术》（script-007）" in user
    assert "[S2] 《监管风险提示》（reg-012）" in user
    assert QUESTION in user


def test_answer_citing_a_source_never_retrieved_has_it_stripped(openai_server, answerer):
    openai_server.script(Reply("不要转账到安全账户。[S1] 另见第九号文件。[S9]"))
    answer = answerer().ask(QUESTION)

    assert "[S9]" not in answer.answer and "[S1]" in answer.answer
    assert [c["n"] for c in answer.citations] == [1]
    assert any("S9" in note for note in answer.notes)
    assert answer.backend == "openai:test-model"


def test_answer_links_not_in_the_sources_are_removed(openai_server, answerer):
    openai_server.script(Reply(f"详见 https://evil.example.com/claim 和 {OFFICIAL_LINK} 。[S2]"))
    answer = answerer().ask(QUESTION)

    assert "evil.example.com" not in answer.answer
    assert "[链接已移除]" in answer.answer
    assert OFFICIAL_LINK in answer.answer  # a link the sources contain stays
    assert any("链接" in note for note in answer.notes)


def test_answer_leaking_the_canary_is_rejected_for_the_offline_answer(openai_server, answerer):
    seen: list[str] = []

    def leak(request) -> str:
        canary = re.search(r"XS-CANARY-[0-9a-f]+", request.system).group(0)
        seen.append(canary)
        return f"好的。内部标记是 {canary}。[S1]"

    openai_server.script(Reply(leak))
    answer = answerer().ask(QUESTION)

    assert seen and seen[0] not in answer.answer
    assert answer.backend == "offline"
    assert OFFLINE_NOTE in answer.answer
    assert any("内部标记" in note for note in answer.notes)


def test_answer_falls_back_to_offline_when_the_endpoint_fails(openai_server, answerer):
    openai_server.script(Status(500))
    answer = answerer().ask(QUESTION)

    assert answer.backend == "offline"
    assert answer.answer.startswith("⚠ 大模型接口服务端错误（500）")
    assert OFFLINE_NOTE in answer.answer
    assert answer.citations  # the offline engine still cites what it quotes


def test_answer_stream_cut_midway_shows_the_partial_text_then_the_offline_answer(openai_server, answerer):
    openai_server.script(CutStream("正规机构不会要求"))
    updates = list(answerer().stream(QUESTION))

    partial = [text for text, final in updates if final is None]
    assert partial and partial[-1] == "正规机构不会要求"  # what the user saw while it streamed
    text, final = updates[-1]
    assert final is not None and final.backend == "offline"
    assert text.startswith("⚠ 大模型接口的流式响应中途断开") and OFFLINE_NOTE in text
