"""Scorers over recorded outputs: every figure checked by hand, and every scorer shown to fail."""

import math

import pytest

from evals.scorers import (
    case_passes,
    citation_validity,
    score_answer,
    score_case,
    score_draft,
    score_leads,
    score_retrieval,
    score_triage,
    summarize,
)


def row(task, case, output, repeat=0, **extra):
    return {"id": case["id"], "repeat": repeat, "case": case, "output": output,
            "scores": score_case(task, case, output), **extra}


# ---------------------------------------------------------------------------- retrieval
def test_retrieval_first_relevant_at_rank_one():
    s = score_retrieval({"relevant": ["reg-1"]}, {"ranked": ["reg-1", "reg-2"]})
    assert s["hit@1"] == s["hit@10"] == s["mrr"] == s["ndcg@10"] == s["pass"] == 1.0


def test_retrieval_relevant_at_rank_four_passes_hit5_but_not_hit3():
    s = score_retrieval({"relevant": ["x"]}, {"ranked": ["a", "b", "c", "x", "d"]})
    assert (s["hit@1"], s["hit@3"], s["hit@5"], s["hit@10"]) == (0.0, 0.0, 1.0, 1.0)
    assert s["mrr"] == 0.25
    assert s["ndcg@10"] == pytest.approx(1 / math.log2(5))


def test_retrieval_fails_when_nothing_relevant_is_found():
    s = score_retrieval({"relevant": ["x"]}, {"ranked": ["a", "b"] + [f"d{i}" for i in range(20)] + ["x"]})
    assert s["hit@10"] == s["mrr"] == s["ndcg@10"] == s["pass"] == 0.0  # x is at rank 23: beyond the cut


def test_ndcg_with_two_relevant_documents():
    s = score_retrieval({"relevant": ["a", "c"]}, {"ranked": ["a", "b", "c"]})
    assert s["ndcg@10"] == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))


def test_retrieval_metrics_average_over_cases():
    rows = [row("retrieval", {"id": "1", "relevant": ["a"]}, {"ranked": ["a"]}),
            row("retrieval", {"id": "2", "relevant": ["a"]}, {"ranked": ["b", "a"]}),
            row("retrieval", {"id": "3", "relevant": ["a"]}, {"ranked": ["b"]})]
    m = summarize("retrieval", rows).metrics
    assert m["hit@1"] == pytest.approx(1 / 3) and m["hit@3"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert m["pass_rate"] == pytest.approx(2 / 3) and m["n"] == 3


# ---------------------------------------------------------------------------- answer
GOOD = {"answer": "不良信息保存5年，自不良行为或者事件终止之日起算。[S1]", "citations": [{"n": 1, "doc_id": "reg-003"}],
        "sources": ["reg-003", "reg-004"]}


def test_answer_with_facts_and_valid_citations_passes():
    s = score_answer({"must_include": ["5年", "不良行为或者事件终止之日"], "cite": ["reg-003"]}, GOOD)
    assert s == {"citation_validity": 1.0, "refused": 0.0, "must_include": 1.0, "cite_hit": 1.0, "pass": 1.0}


def test_answer_citing_a_source_that_was_never_retrieved_fails():
    bad = {**GOOD, "answer": GOOD["answer"] + "另见[S7]。"}
    s = score_answer({"must_include": ["5年"], "cite": ["reg-003"]}, bad)
    assert s["citation_validity"] == 0.0 and s["pass"] == 0.0
    assert citation_validity("见[S2]", [{"n": 1}], 2) == 0.0  # retrieved but not in the citation list


def test_answer_missing_a_fact_or_the_expected_source_fails():
    s = score_answer({"must_include": ["5年", "20日内"], "cite": ["reg-003"]}, GOOD)
    assert s["must_include"] == 0.5 and s["pass"] == 0.0
    s = score_answer({"must_include": ["5年"], "cite": ["reg-009"]}, GOOD)
    assert s["cite_hit"] == 0.0 and s["pass"] == 0.0


def test_must_include_ignores_whitespace_the_answer_wraps_on():
    out = {**GOOD, "answer": "保存 5 年[S1]"}
    assert score_answer({"must_include": ["5年"]}, out)["must_include"] == 1.0


def test_unanswerable_question_must_be_refused():
    refused = {"answer": "知识库中没有找到足以回答该问题的依据。", "citations": [], "sources": ["reg-001"]}
    assert score_answer({"answerable": False}, refused)["pass"] == 1.0
    assert score_answer({"answerable": False}, GOOD)["pass"] == 0.0  # made up an answer
    s = score_answer({"answerable": True, "must_include": []}, refused)
    assert s["refused"] == 1.0 and s["pass"] == 0.0  # refused an answerable one


def test_answer_metrics_split_answerable_and_unanswerable():
    refused = {"answer": "知识库中没有找到相关依据", "citations": [], "sources": []}
    rows = [row("answer", {"id": "a", "must_include": ["5年"], "cite": ["reg-003"]}, GOOD),
            row("answer", {"id": "b", "must_include": ["5年"], "cite": ["reg-003"]}, refused),
            row("answer", {"id": "u1", "answerable": False}, refused),
            row("answer", {"id": "u2", "answerable": False}, GOOD)]
    m = summarize("answer", rows).metrics
    assert m["unanswerable_handled_rate"] == 0.5 and m["false_refusal_rate"] == 0.5
    assert m["must_include_rate"] == 0.5 and m["citation_validity"] == 1.0 and m["pass_rate"] == 0.5


# ---------------------------------------------------------------------------- triage
def tri(label, conf=0.9, abstain=False):
    return {"label": label, "confidence": conf, "abstain": abstain, "scores": {}, "red_flags": [], "evidence": [],
            "action": ""}


TRIAGE = [  # (expected, recorded engine output)
    ("proxy_rights", tri("proxy_rights")), ("proxy_rights", tri("proxy_rights")), ("proxy_rights", tri("debt_evasion")),
    ("debt_evasion", tri("debt_evasion")), ("debt_evasion", tri("debt_evasion", 0.3, abstain=True)),
    ("legit_complaint", tri("legit_complaint")), ("legit_complaint", tri("legit_complaint")),
    ("legit_complaint", tri("credit_repair")), ("legit_complaint", tri("legit_complaint")),
]


def triage_rows():
    return [row("triage", {"id": f"t{i}", "text": "…", "label": e}, out) for i, (e, out) in enumerate(TRIAGE)]


def test_triage_case_passes_only_with_the_right_label_and_no_abstention():
    assert score_triage({"label": "deepfake"}, tri("deepfake"))["pass"] == 1.0
    assert score_triage({"label": "deepfake"}, tri("impersonation"))["pass"] == 0.0
    s = score_triage({"label": "deepfake"}, tri("deepfake", abstain=True))
    assert s["pass"] == 0.0 and s["abstained"] == 1.0
    assert score_triage({"label": "abstain"}, tri("legit_complaint", abstain=True))["pass"] == 1.0


def test_triage_metrics_by_hand():
    s = summarize("triage", triage_rows())
    m, d = s.metrics, s.details
    assert m["accuracy"] == pytest.approx(6 / 9)
    assert m["abstain_rate"] == pytest.approx(1 / 9)
    assert m["legit_fp_rate"] == pytest.approx(1 / 4)  # one genuine complaint called credit repair
    pl = d["per_label"]
    assert pl["proxy_rights"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert pl["debt_evasion"]["precision"] == 0.5 and pl["debt_evasion"]["recall"] == 0.5
    assert pl["legit_complaint"]["f1"] == pytest.approx(2 * 1 * 0.75 / 1.75)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 * 0.75 / 1.75) / 3)
    conf = d["confusion"]
    assert conf["rows"] == ["debt_evasion", "legit_complaint", "proxy_rights"]
    assert conf["columns"] == ["debt_evasion", "legit_complaint", "proxy_rights", "credit_repair", "abstain"]
    assert conf["matrix"] == [[1, 0, 0, 0, 1], [0, 3, 0, 1, 0], [1, 0, 2, 0, 0]]


def test_triage_macro_f1_agrees_with_scikit_learn():
    from sklearn.metrics import f1_score

    rows = triage_rows()
    truth = [r["case"]["label"] for r in rows]
    pred = ["abstain" if r["output"]["abstain"] else r["output"]["label"] for r in rows]
    expected = f1_score(truth, pred, labels=sorted(set(truth)), average="macro", zero_division=0)
    assert summarize("triage", rows).metrics["macro_f1"] == pytest.approx(expected)


def test_triage_perfect_run_scores_one_and_a_worse_one_less():
    perfect = [row("triage", {"id": str(i), "text": "", "label": e}, tri(e)) for i, (e, _) in enumerate(TRIAGE)]
    assert summarize("triage", perfect).metrics["macro_f1"] == 1.0
    assert summarize("triage", triage_rows()).metrics["macro_f1"] < 0.8


# ---------------------------------------------------------------------------- draft
def test_draft_passes_with_all_rules_and_facts():
    out = {"text": "您好，关于您反映的扣款问题，我们将在15日内答复。", "checks": [{"rule": "no_promise", "passed": True, "detail": ""}]}
    s = score_draft({"must_include": ["15日内"]}, out)
    assert s["pass"] == 1.0 and s["rules_passed"] == 1.0


def test_draft_fails_on_a_broken_rule_a_missing_fact_or_a_banned_phrase():
    out = {"text": "保证全额退款。", "checks": [{"rule": "no_promise", "passed": False, "detail": "承诺退款"},
                                          {"rule": "polite", "passed": True, "detail": ""}]}
    s = score_draft({"must_include": []}, out)
    assert s["rules_passed"] == 0.5 and s["all_rules_passed"] == 0.0 and s["pass"] == 0.0
    ok = {"text": "我们已收到。", "checks": []}
    assert score_draft({"must_include": ["15日内"]}, ok)["pass"] == 0.0
    checks = [{"rule": "admit_fault", "passed": False, "detail": "承认责任"}, {"rule": "leak_pii", "passed": True, "detail": ""}]
    s = score_draft({"must_not": ["admit_fault", "leak_pii"]}, {"text": "是我们的错。", "checks": checks})
    assert s["must_not_violations"] == 1.0 and s["pass"] == 0.0
    s = score_draft({"must_not": ["negotiate_with_agent"]}, {"text": "好的。", "checks": []})
    assert s["must_not_violations"] == 1.0 and s["pass"] == 0.0  # a rule the case names was never checked


# ---------------------------------------------------------------------------- leads
def lead_case(cid, ids, gang=()):
    return {"id": cid, "text": "", "identifiers": [{"type": t, "value": v} for t, v in ids], "gang_members": list(gang)}


def ent(t, v, norm=None):
    return {"type": t, "value": v, "normalized": norm or v, "start": 0, "end": 1}


def test_leads_case_with_all_identifiers_and_its_gang_passes():
    case = lead_case("c1", [("mobile", "13900112233"), ("wechat", "fawu01")], ["c1", "c2"])
    out = {"entities": [ent("mobile", "139 0011 2233", "13900112233"), ent("wechat", "fawu01"), ent("amount", "5万元", "50000")],
           "mates": ["c2"]}
    s = score_leads(case, out)
    assert s["entity_precision"] == s["entity_recall"] == s["group_ok"] == s["pass"] == 1.0  # amounts are not listed


def test_listed_identifiers_are_normalized_like_found_ones():
    case = lead_case("c1", [("mobile", "+86 139-0011-2233"), ("landline", "4000437432")])
    out = {"entities": [ent("mobile", "139 0011 2233", "13900112233"), ent("landline", "4000437432", "400-043-7432")],
           "mates": []}
    s = score_leads(case, out)
    assert s["entity_precision"] == s["entity_recall"] == 1.0


def test_leads_fails_on_a_missed_or_invented_identifier_or_a_wrong_gang():
    case = lead_case("c1", [("mobile", "13900112233"), ("wechat", "fawu01")], ["c1", "c2"])
    s = score_leads(case, {"entities": [ent("mobile", "13900112233")], "mates": ["c2"]})
    assert s["entity_recall"] == 0.5 and s["pass"] == 0.0
    s = score_leads(case, {"entities": [ent("mobile", "13900112233"), ent("wechat", "fawu01"), ent("qq", "12345")],
                           "mates": ["c2"]})
    assert s["entity_precision"] == pytest.approx(2 / 3) and s["pass"] == 0.0
    s = score_leads(case, {"entities": [ent("mobile", "13900112233"), ent("wechat", "fawu01")], "mates": ["c2", "c9"]})
    assert s["group_ok"] == 0.0 and s["pass"] == 0.0


def test_leads_pairwise_group_agreement():
    gang = ["a", "b", "c"]
    cases = [lead_case(x, [], gang) for x in gang] + [lead_case("d", [])]
    mates = {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["c"]}  # found a–b, missed a–c and b–c, invented c–d
    rows = [row("leads", c, {"entities": [], "mates": mates[c["id"]]}) for c in cases]
    m = summarize("leads", rows).metrics
    assert m["group_pair_precision"] == 0.5 and m["group_pair_recall"] == pytest.approx(1 / 3)
    assert m["group_agreement"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert m["identifier_precision"] == m["identifier_recall"] == 1.0


# ---------------------------------------------------------------------------- repeats
def test_repeats_average_metrics_and_report_their_spread():
    case = {"id": "q", "relevant": ["a"]}
    rows = [row("retrieval", case, {"ranked": ["a"]}, repeat=0, latency_ms=10, prompt_tokens=4, completion_tokens=0, cost=0.5),
            row("retrieval", case, {"ranked": ["b"]}, repeat=1, latency_ms=20, prompt_tokens=4, completion_tokens=0, cost=0.5),
            row("retrieval", case, {"ranked": ["a"]}, repeat=2, latency_ms=30, prompt_tokens=4, completion_tokens=0, cost=0.5)]
    s = summarize("retrieval", rows)
    assert s.metrics["hit@1"] == pytest.approx(2 / 3)
    assert s.metrics["prompt_tokens"] == 4 and s.metrics["cost"] == 0.5  # per pass over the set
    assert s.details["spread"]["hit@1"]["min"] == 0.0 and s.details["spread"]["hit@1"]["max"] == 1.0
    assert s.details["spread"]["hit@1"]["std"] == pytest.approx(math.sqrt(2 / 9))
    assert s.metrics["latency_p50_ms"] == 20
    assert case_passes(rows) == {"q": pytest.approx(2 / 3)}


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="未知的评测任务"):
        score_case("summarise", {}, {})
