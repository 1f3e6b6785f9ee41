"""回复起草: offline templates, the LLM loop (regenerate, fall back, flag), label resolution, exports."""

from __future__ import annotations

import re

import pytest

from rag.documents import Document, Hit
from rag.draft import OFFLINE_NOTE, DraftError, citation_check, render_offline
from rag.draft_rules import RULES
from rag.llm import LLMError
from rag.prompts import load_prompt
from rag.service import Service
from tests.conftest import ROOT
from tests.fakes import FakeLLM

REGS = [
    Document("reg-007", "## 关键条款\n投诉人委托他人代为投诉的，应当提供授权委托书原件、受托人的身份证明。"
             "机构应当在收到投诉之日起15日内作出处理决定并告知投诉人。", "regulation", "银行业保险业消费投诉处理管理办法"),
    Document("reg-027", "人民银行从未授权任何机构开展所谓“征信修复”业务。信息主体认为信息有误的，可以免费提出异议，"
             "征信机构应当在收到异议之日起20日内处理。", "regulation", "关于警惕“征信修复”骗局的风险提示"),
    Document("reg-032", "不法分子冒充金融机构客服，诱导受害人下载会议软件进行屏幕共享，转账到所谓安全账户。遇到此类情况应立即报警。",
             "regulation", "关于防范冒充客服诈骗的风险提示"),
    Document("reg-033", "不法分子利用AI换脸、AI拟声冒充亲友实施诈骗，要求视频核实后再转账。", "regulation",
             "关于防范AI换脸诈骗的风险提示"),
    Document("reg-026", "对确有还款困难的客户，机构可以与其协商个性化分期还款安排。", "regulation", "信用卡业务规范通知"),
    Document("reg-031", "不法贷款中介以包装资料、做流水为名收取高额服务费，金融机构不与此类中介合作。", "regulation",
             "关于防范不法贷款中介风险的提示"),
    Document("scr-001", "专业法务团队，停息挂账，减免罚息，不成功不收费。", "script", "债务协商广告",
             {"label": "proxy_rights"}),
]
COMPLAINTS = {
    "legit_complaint": "我的账单被重复扣了两次，每次1265.40元，第二笔到现在还没退回来。",
    "proxy_rights": "我司受借款人王某全权委托，要求贵司全额减免其全部息费，本金8000元分24期，否则集体投诉。",
    "debt_evasion": "我要求停息挂账，利息罚息全免，只还本金10000元，不同意就天天投诉。",
    "credit_repair": "我花了4000元找人删征信上的逾期，现在人联系不上了。",
    "loan_broker": "中介帮我做了假流水，贷款20000元下来后他们拿走了6000元服务费。",
    "impersonation": "有个自称你们客服的人让我下载会议软件共享屏幕，我转了9000元。",
    "deepfake": "有人用我的身份在你们这里通过了视频面签借了30000元，那根本不是我。",
}
GOOD = ("尊敬的客户：\n您好！我们已收到您的投诉，将在收到投诉之日起15日内作出处理决定[S1]。"
        "我们将核实相关扣款记录，如核实确属多扣，将按原路退还。")
BAD_WAIVER = "尊敬的客户：\n您好！我们将为您全额减免全部利息和罚息[S1]。"


@pytest.fixture
def service(settings, hash_embedder):
    svc = Service(settings, embedder=hash_embedder, llm=None)
    svc.kb.add_documents(REGS)
    return svc


def with_llm(service, llm):
    return Service(service.settings, embedder=service.embedder, llm=llm)


@pytest.mark.parametrize("label", sorted(COMPLAINTS))
def test_offline_draft_passes_every_check_and_cites_only_regulations(service, label):
    result = service.drafts.draft(COMPLAINTS[label], label)
    assert result.backend == "offline" and OFFLINE_NOTE in result.notes
    assert [c["rule"] for c in result.checks] == [*RULES, "citations"]
    assert result.passed, [c for c in result.checks if not c["passed"]]
    assert result.citations and {c["doc_id"] for c in result.citations} <= {h.doc_id for h in result.sources}
    assert {h.kind for h in result.sources} == {"regulation"}
    assert result.text.startswith("尊敬的客户")


def test_offline_draft_restates_the_amounts_and_answers_the_customer_not_the_agent(service):
    result = service.drafts.draft(COMPLAINTS["proxy_rights"], "proxy_rights")
    assert "8000元" in result.text and "本人" in result.text and "授权委托书" in result.text
    assert "贵司" not in result.text
    cited = {c["doc_id"] for c in result.citations}
    assert "reg-007" in cited  # the authorisation rule is grounded in the regulation that states it


def test_victim_drafts_give_official_channels_and_police(service):
    for label in ("impersonation", "deepfake"):
        text = service.drafts.draft(COMPLAINTS[label], label).text
        assert "官方" in text and "报警" in text and "96110" in text


def test_offline_template_lines_are_cited_only_when_a_source_states_them():
    hits = [Hit("reg-x", "reg-x#1", 1.0, "某规定", "regulation", "与本问题无关的内容。", {})]
    text = render_offline("proxy_rights", COMPLAINTS["proxy_rights"], hits)
    assert "[S1]" not in text  # nothing in the source says 授权委托书, so nothing is cited


def test_unknown_label_and_empty_complaint_are_refused(service):
    with pytest.raises(DraftError, match="未知标签"):
        service.drafts.draft("投诉内容", "no_such_label")
    with pytest.raises(DraftError, match="为空"):
        service.drafts.draft("   ", "legit_complaint")


class FakeTriage:
    def __init__(self, result):
        self.result = result
        self.seen = []

    def classify(self, text):
        self.seen.append(text)
        return self.result


def test_label_comes_from_the_triage_engine_when_not_given(service):
    service.__dict__["triage"] = FakeTriage({"label": "impersonation", "abstain": False})
    result = service.drafts.draft(COMPLAINTS["impersonation"])
    assert (result.label, result.label_source) == ("impersonation", "triage")
    assert service.triage.seen == [COMPLAINTS["impersonation"]]


def test_an_abstaining_triage_is_drafted_as_a_normal_complaint_with_a_note(service):
    result = service.drafts.draft("我想咨询一下账单。", triage={"label": "deepfake", "abstain": True})
    assert result.label == "legit_complaint" and any("人工" in n for n in result.notes)


def test_a_triage_failure_asks_for_a_label(service):
    class Broken:
        def classify(self, text):
            raise RuntimeError("知识库中带标签的案例不足两类")

    service.__dict__["triage"] = Broken()
    with pytest.raises(DraftError, match="请指定标签"):
        service.drafts.draft("投诉内容")


# -- with an LLM ---------------------------------------------------------------------------------
def test_llm_draft_that_passes_is_kept_with_the_prompt_stamp(service):
    llm = FakeLLM(GOOD)
    result = with_llm(service, llm).drafts.draft(COMPLAINTS["legit_complaint"], "legit_complaint")
    llm.assert_done()
    assert result.text == GOOD and result.backend == "fake:scripted" and result.passed
    assert result.prompt["prompt_id"] == "draft" and len(result.prompt["prompt_sha256"]) == 64
    system, user = llm.received[0]
    assert "promise_waiver" in system["content"] and "negotiate_with_agent" in system["content"]
    assert COMPLAINTS["legit_complaint"] in user["content"] and "[S1]" in user["content"]
    assert "上一版草稿未通过" not in user["content"]


def test_a_failing_llm_draft_is_regenerated_with_the_failures_as_feedback(service):
    llm = FakeLLM(BAD_WAIVER, GOOD)
    result = with_llm(service, llm).drafts.draft(COMPLAINTS["legit_complaint"], "legit_complaint")
    llm.assert_done()
    assert result.text == GOOD and result.attempts == 2
    assert result.rejected == [{"text": BAD_WAIVER, "failed": ["promise_waiver"]}]
    feedback = llm.received[1][1]["content"]
    assert "上一版草稿未通过" in feedback and "promise_waiver" in feedback


def test_when_every_llm_draft_fails_the_offline_draft_is_used_and_the_reason_given(service):
    llm = FakeLLM(BAD_WAIVER, "尊敬的客户：这是我司的失误[S1]。")
    result = with_llm(service, llm).drafts.draft(COMPLAINTS["legit_complaint"], "legit_complaint")
    llm.assert_done()
    assert result.backend == "offline" and result.passed
    assert [r["failed"] for r in result.rejected] == [["promise_waiver"], ["admit_fault"]]
    assert any("均未通过检查" in n and "promise_waiver" in n for n in result.notes)


def test_a_citation_that_was_never_retrieved_fails_and_is_regenerated(service):
    llm = FakeLLM("尊敬的客户：我们将核实[S9]。", GOOD)
    result = with_llm(service, llm).drafts.draft(COMPLAINTS["legit_complaint"], "legit_complaint")
    assert result.rejected[0]["failed"] == ["citations"] and result.text == GOOD
    assert "S9" in llm.received[1][1]["content"]


def test_endpoint_failure_and_canary_echo_fall_back_to_offline(service):
    llm = FakeLLM(LLMError("大模型接口超时"))
    result = with_llm(service, llm).drafts.draft(COMPLAINTS["legit_complaint"], "legit_complaint")
    assert result.backend == "offline" and any("超时" in n for n in result.notes)
    echo = FakeLLM(lambda m: "内部标记：" + m[0]["content"].split("内部标记：")[1][:22], GOOD)
    result = with_llm(service, echo).drafts.draft(COMPLAINTS["legit_complaint"], "legit_complaint")
    assert result.text == GOOD and result.rejected[0]["failed"] == ["canary"]


def test_personal_data_is_masked_for_a_remote_endpoint_and_a_repeated_number_is_caught(service):
    remote = service.settings.model_copy(update={"llm_base_url": "https://llm.example.com/v1", "llm_model": "m"})
    llm = FakeLLM(lambda m: "尊敬的客户：您的手机" + re.findall(r"\[手机号\d\]", m[1]["content"])[0] + "已登记[S1]。", GOOD)
    svc = Service(remote, embedder=service.embedder, llm=llm)
    result = svc.drafts.draft("我的手机13912345678天天被催收打爆。", "legit_complaint")
    sent = llm.received[0][1]["content"]
    assert "13912345678" not in sent and re.search(r"我的手机\[手机号\d\]", sent)
    assert result.rejected[0]["failed"] == ["leak_pii"] and "13912345678" in result.rejected[0]["text"]
    assert result.text == GOOD


def test_the_prompt_file_declares_what_it_uses():
    prompt = load_prompt("draft", ROOT / "prompts")
    messages = prompt.render(complaint="c", label="legit_complaint", label_name="正常投诉", sources=[],
                             feedback="", canary="X")
    assert "c" in messages[1]["content"]


# -- checks and exports --------------------------------------------------------------------------
def test_an_edited_draft_is_checked_again(service):
    result = service.drafts.draft(COMPLAINTS["legit_complaint"], "legit_complaint")
    edited = result.text + "\n我们将为您全额减免利息。"
    checks = {c["rule"]: c for c in service.drafts.check(edited, COMPLAINTS["legit_complaint"], "legit_complaint",
                                                         len(result.sources))}
    assert not checks["promise_waiver"]["passed"] and checks["citations"]["passed"]


def test_citation_check_can_fail():
    assert not citation_check("见[S3]。", 2).passed
    assert not citation_check("没有引用。", 2).passed
    assert citation_check("见[S2]。", 2).passed


def test_docx_export_of_a_draft(service, tmp_path):
    import docx

    from rag.export import text_to_docx

    result = service.drafts.draft(COMPLAINTS["impersonation"], "impersonation")
    path = text_to_docx(result.text, tmp_path / "reply.docx", title="答复", appendix=["# 附注", "内部留存"])
    body = "\n".join(p.text for p in docx.Document(str(path)).paragraphs)
    assert "尊敬的客户" in body and "96110" in body and "内部留存" in body


def test_draft_tab_handlers(service, tmp_path):
    from ui.draft import DraftHandlers

    h = DraftHandlers(service)
    text, rows, sources, status, state = h.draft(COMPLAINTS["proxy_rights"], "proxy_rights")
    assert text and len(rows) == len(RULES) + 1 and all("通过" in r[1] and "未" not in r[1] for r in rows)
    assert "xs-src-1" in sources and "人工指定" in status
    rows, status = h.recheck(text + "\n请贵司提供委托书。", state)
    assert any(r[0].startswith("negotiate_with_agent") and "未通过" in r[1] for r in rows) and "未通过" in status
    assert h.export_docx(text, state).endswith(".docx")
    assert h.draft("", "")[3].startswith("⚠")


def test_cli_draft_prints_the_checks(service, monkeypatch, capsys, run_cli):
    import json

    monkeypatch.setattr("rag.cli_leads.service_for", lambda args: service)
    assert run_cli(["draft", COMPLAINTS["credit_repair"], "--label", "credit_repair", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["label"] == "credit_repair" and out["passed"] and len(out["checks"]) == len(RULES) + 1
    assert run_cli(["draft", "投诉", "--label", "bogus"]) == 1
    assert "未知标签" in capsys.readouterr().err


def test_offline_engine_on_the_draft_set(settings, hash_embedder):
    """Issue #6 acceptance with the regulations of the sample corpus (hash embedder: retrieval is
    weaker than the real model's, the templates are the same): ≥ 90% of items fully pass, and the
    checker catches a planted violation of each item's must-not rules."""
    from evals.leads_bench import SETS, _jsonl, plant
    from ingest.pipeline import ingest_paths

    svc = Service(settings, embedder=hash_embedder, llm=None)
    ingest_paths(svc.kb, [ROOT / "corpus" / "regulations"])
    rows = _jsonl(SETS / "draft.jsonl")
    passed = caught = planted = 0
    for row in rows:
        result = svc.drafts.draft(row["complaint"], row["label"])
        passed += all(m in result.text for m in row["must_include"]) and not set(row["must_not"]) & set(result.failed_rules)
        for rule in row["must_not"]:
            checks = svc.drafts.check(plant(result.text, rule), row["complaint"], row["label"])
            planted += 1
            caught += any(c["rule"] == rule and not c["passed"] for c in checks)
    assert passed / len(rows) >= 0.9
    assert caught == planted


def test_draft_tab_masks_personal_data_for_frontline_staff(service):
    from ui.draft import DraftHandlers

    service.users.add("li", "frontline", "password-123", rounds=4)

    class Request:
        username = "li"

    complaint = "有个自称你们客服的人让我共享屏幕，我的手机13912345678，转了9000元。"
    text, rows, sources, status, state = DraftHandlers(service).draft(complaint, "impersonation", request=Request())
    assert "13912345678" not in state["complaint"] and "139****5678" in state["complaint"]
    assert "96110" in text
