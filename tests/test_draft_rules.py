"""Each draft rule catches its violation, and passes a clean reply (a checker that cannot fail proves nothing)."""

import pytest

from rag.draft_rules import RULES, blank_customer_quotes, check_draft

CLEAN = {
    "legit_complaint": (
        "尊敬的客户：\n您好！我们已收到您的投诉，理解您的心情。我们将核实相关情况，经核实确属多扣的款项，将按原路退还。"
        "如您确有还款困难，您本人可以申请延期还款，需提供相关材料，我们将按照公司政策审核后与您确认方案。"
    ),
    "proxy_rights": (
        "尊敬的客户（借款人本人）：\n您好！委托他人代为投诉的，应当提供授权委托书原件，并且授权须经我们与您本人直接核实确认。"
        "在核实前我们不会向任何第三方提供您的合同和还款记录。我们不会与未经您本人确认的代理方协商。"
    ),
    "impersonation": (
        "尊敬的客户：\n本公司不会要求您屏幕共享或转账到安全账户。请只通过官方App或官方客服电话核实信息。"
        "如已转账，请立即拨打110报警，也可拨打96110反诈专线咨询。"
    ),
}
COMPLAINT = "我司受借款人王某全权委托，要求贵司全额减免全部息费，否则集体投诉。"


def verdict(text, label="legit_complaint", complaint=COMPLAINT, **kw):
    return {c.rule: c for c in check_draft(text, complaint, label, **kw)}


@pytest.mark.parametrize("label", sorted(CLEAN))
def test_clean_replies_pass_every_rule(label):
    checks = check_draft(CLEAN[label], COMPLAINT, label)
    assert [c.rule for c in checks] == list(RULES)
    assert all(c.passed for c in checks), [c.detail for c in checks if not c.passed]


# -- promise_waiver --------------------------------------------------------------------------
@pytest.mark.parametrize("sentence", [
    "我们将为您减免全部利息和罚息。",
    "可以为您办理停息挂账。",
    "我司同意本金打七折结清。",
    "经审核后保证为您全额减免罚息。",  # a condition does not excuse a guarantee
    "我们已为您申请延期还款三个月。",
])
def test_promise_waiver_catches_promises(sentence):
    c = verdict(CLEAN["legit_complaint"] + sentence)["promise_waiver"]
    assert not c.passed and sentence[:10] in c.detail


@pytest.mark.parametrize("sentence", [
    "对于您提出的减免诉求，我们无法承诺全额减免或停息挂账。",
    "息费减免不属于可以承诺的事项。",
    "如符合公司政策，您本人可以申请延期还款，经审核后办理。",
    "不会以撤诉作为减免的条件。",
])
def test_promise_waiver_allows_refusals_requests_and_policy_conditions(sentence):
    assert verdict(CLEAN["legit_complaint"] + sentence)["promise_waiver"].passed


# -- admit_fault -----------------------------------------------------------------------------
@pytest.mark.parametrize("sentence", [
    "经查，这是我司的失误，给您造成了损失。",
    "我们确实存在违规催收的问题。",
    "暴力催收属实，我们深表歉意。",
    "我们多扣了您的款项。",
    "由我司承担全部责任。",
])
def test_admit_fault_catches_admissions(sentence):
    assert not verdict(CLEAN["legit_complaint"] + sentence)["admit_fault"].passed


@pytest.mark.parametrize("sentence", [
    "如经核实确属我司原因，我们将依规处理。",
    "关于您反映的多扣了款项的问题，我们正在核实。",
    "给您带来的不便，我们深表歉意。",
])
def test_admit_fault_allows_conditions_and_apologies(sentence):
    assert verdict(CLEAN["legit_complaint"] + sentence)["admit_fault"].passed


def test_admit_fault_passes_when_the_facts_are_confirmed():
    text = CLEAN["legit_complaint"] + "经核查，这是我司的失误。"
    assert not verdict(text)["admit_fault"].passed
    assert verdict(text, fault_confirmed=True)["admit_fault"].passed


# -- leak_pii --------------------------------------------------------------------------------
def test_leak_pii_catches_raw_identifiers_and_never_repeats_them():
    c = verdict(CLEAN["legit_complaint"] + "我们已联系您的手机13912345678和银行卡6222021234567890128。")["leak_pii"]
    assert not c.passed
    assert "139****5678" in c.detail and "13912345678" not in c.detail


def test_leak_pii_allows_masked_forms_and_service_numbers():
    assert verdict(CLEAN["legit_complaint"] + "尾号为139****5678的手机。客服热线95588。")["leak_pii"].passed


def test_leak_pii_counts_quoted_customer_text_too():
    complaint = "我的手机号13912345678天天被催收打爆"
    assert not verdict(CLEAN["legit_complaint"] + "您反映“我的手机号13912345678天天被催收打爆”。",
                       complaint=complaint)["leak_pii"].passed


# -- negotiate_with_agent --------------------------------------------------------------------
@pytest.mark.parametrize("sentence", [
    "请贵司于三日内提交减免方案。",
    "我们将与代理人协商还款方案。",
    "我们会把合同和还款记录发给第三方。",
    "退款将打到代理公司账户，退款款项转到第三方账户。",
    "请告知合作方式和返点比例。",
])
def test_negotiate_with_agent_catches_dealing_with_the_agent(sentence):
    c = verdict(CLEAN["proxy_rights"] + sentence, "proxy_rights")["negotiate_with_agent"]
    assert not c.passed


def test_negotiate_with_agent_requires_customer_and_verified_authorisation_for_proxy_cases():
    c = verdict("尊敬的客户：您好！我们已收到来函，将尽快处理。", "proxy_rights")["negotiate_with_agent"]
    assert not c.passed and "授权" in c.detail and "本人" in c.detail


def test_negotiate_with_agent_applies_to_other_labels_only_as_a_ban_on_dealing():
    assert verdict("尊敬的客户：您好！我们将核实。", "credit_repair")["negotiate_with_agent"].passed
    assert not verdict("请贵司提供客户授权书。", "credit_repair")["negotiate_with_agent"].passed


# -- missing_police_advice -------------------------------------------------------------------
@pytest.mark.parametrize("label", ["impersonation", "deepfake"])
def test_missing_police_advice_requires_police_and_official_channels(label):
    no_police = "尊敬的客户：请通过官方App核实信息。"
    no_official = "尊敬的客户：请立即报警。"
    negated = "尊敬的客户：请通过官方客服核实，无需报警。"
    assert not verdict(no_police, label)["missing_police_advice"].passed
    assert not verdict(no_official, label)["missing_police_advice"].passed
    assert not verdict(negated, label)["missing_police_advice"].passed
    assert verdict(CLEAN["impersonation"], label)["missing_police_advice"].passed


def test_missing_police_advice_does_not_apply_to_other_labels():
    c = verdict("尊敬的客户：我们将核实。", "legit_complaint")["missing_police_advice"]
    assert c.passed and "不适用" in c.detail


# -- quotations ------------------------------------------------------------------------------
def test_quotes_of_the_customer_are_not_our_words_but_invented_quotes_are():
    complaint = "你们必须“全额减免所有利息”，否则我天天投诉。"
    restated = CLEAN["legit_complaint"] + "您要求“全额减免所有利息”，我们将依据政策评估。"
    assert verdict(restated, complaint=complaint)["promise_waiver"].passed
    invented = CLEAN["legit_complaint"] + "我们答复“我们将为您全额减免所有利息”。"
    assert not verdict(invented, complaint=complaint)["promise_waiver"].passed
    assert blank_customer_quotes("您说“全额减免所有利息”", complaint) == "您说“…”"
