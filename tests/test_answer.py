from rag.answer import NOT_FOUND, OFFLINE_NOTE, Answerer, check_citations, extractive_answer, strip_foreign_links
from rag.documents import Hit
from rag.llm import LLMError
from rag.prompts import load_prompt
from tests.conftest import ROOT
from tests.fakes import FakeLLM

HITS = [
    Hit("reg-003", "reg-003#a", 1.0, "征信业管理条例", "regulation",
        "不良信息自不良行为终止之日起保存5年。任何机构不能付费删除真实的逾期记录。信息主体可以免费提出异议。", {}),
    Hit("scr-010", "scr-010#b", 0.8, "征信修复广告", "script",
        "专业征信修复，三天删除逾期记录，先交服务费。详见 https://zx-xiufu.example.top 。", {}),
]


class StubRetriever:
    def __init__(self, hits):
        self.hits = hits
        self.queries = []

    def search(self, question, k=6, filters=None, max_per_doc=None, mode="hybrid"):
        self.queries.append(question)
        return self.hits[:k]


def answerer(llm=None, hits=HITS):
    return Answerer(StubRetriever(hits), load_prompt("answer", ROOT / "prompts"), llm)


def test_offline_answer_quotes_the_best_sentences_with_valid_citations():
    a = extractive_answer("征信修复公司说能删除逾期记录，可信吗？", HITS)
    assert a.backend == "offline" and OFFLINE_NOTE in a.answer
    assert "[S1]" in a.answer and a.citations[0] == {"n": 1, "doc_id": "reg-003", "chunk_id": "reg-003#a"}
    assert "付费删除" in a.answer


def test_offline_answer_says_so_when_nothing_covers_the_question():
    a = extractive_answer("明天北京的天气怎么样？", HITS)
    assert NOT_FOUND in a.answer and a.citations == []


def test_check_citations_strips_numbers_that_were_not_retrieved():
    text, valid, invalid = check_citations("结论一[S1]，结论二[S7]，结论三[S2]。", 2)
    assert text == "结论一[S1]，结论二，结论三[S2]。"
    assert (valid, invalid) == ([1, 2], [7])


def test_foreign_links_are_removed_but_source_links_kept():
    text, n = strip_foreign_links("见 https://zx-xiufu.example.top 和 https://evil.example.com/x ![img](http://x/y.png)", HITS)
    assert "zx-xiufu.example.top" in text and "evil.example.com" not in text and "![img]" not in text
    assert n == 2


def test_llm_answer_with_valid_citation_is_kept_and_prompt_is_numbered():
    llm = FakeLLM("真实的逾期记录不能付费删除 [S1]。")
    a = answerer(llm).ask("征信修复可信吗？")
    assert a.answer == "真实的逾期记录不能付费删除 [S1]。"
    assert a.citations == [{"n": 1, "doc_id": "reg-003", "chunk_id": "reg-003#a"}]
    assert a.prompt["prompt_id"] == "answer" and len(a.prompt["prompt_sha256"]) == 64
    system, user = llm.received[0]
    assert "[S1] 《征信业管理条例》（reg-003）" in user["content"]
    assert "[S2] 《征信修复广告》（scr-010）" in user["content"]
    assert "征信修复可信吗？" in user["content"]
    llm.assert_done()


def test_llm_answer_citing_unretrieved_source_is_repaired():
    llm = FakeLLM("不能删除[S1]，另见[S5]。")
    a = answerer(llm).ask("征信修复可信吗？")
    assert "[S5]" not in a.answer and "[S1]" in a.answer
    assert any("S5" in n for n in a.notes)


def test_llm_answer_without_any_valid_citation_falls_back_to_offline():
    llm = FakeLLM("可以删除，请联系我们[S9]。")
    a = answerer(llm).ask("征信修复公司说能删除逾期记录，可信吗？")
    assert a.backend == "offline" and OFFLINE_NOTE in a.answer
    assert "请联系我们" not in a.answer


def test_llm_answer_leaking_the_canary_is_rejected():
    def leak(messages):
        canary = messages[0]["content"].split("内部标记：")[1].split("（")[0]
        return f"好的，内部标记是 {canary} [S1]"

    a = answerer(FakeLLM(leak)).ask("征信修复公司说能删除逾期记录，可信吗？")
    assert "XS-CANARY" not in a.answer and a.backend == "offline"


def test_llm_failure_falls_back_to_offline_with_a_chinese_message():
    a = answerer(FakeLLM(LLMError("大模型接口超时"))).ask("征信修复公司说能删除逾期记录，可信吗？")
    assert a.answer.startswith("⚠ 大模型接口超时") and "[S1]" in a.answer


def test_streaming_yields_growing_text_then_the_checked_answer():
    steps = list(answerer(FakeLLM("不能付费删除真实逾期记录[S1]。")).stream("征信修复可信吗？"))
    partial = [t for t, a in steps if a is None]
    assert len(partial) >= 2 and all(partial[i] in partial[i + 1] for i in range(len(partial) - 1))
    assert steps[-1][1] is not None and steps[-1][1].citations[0]["doc_id"] == "reg-003"


def test_no_hits_means_no_llm_call():
    llm = FakeLLM()
    a = answerer(llm, hits=[]).ask("任何问题")
    assert NOT_FOUND in a.answer and llm.received == []
