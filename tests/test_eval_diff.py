"""`evals diff`: metric table, flipped cases and gates. The headline test: a triage prompt change
that raises the abstain threshold breaks exactly five known cases; the diff lists those five and
exits 1 under the committed gates."""

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from evals.diff import GATES_FILE, check_gates, compare, load_gates, render_text
from evals.runner import EvalError, Run, run_eval, write_run
from evals.scorers import score_case
from rag.service import Service
from tests.conftest import ROOT

LABELS = ["proxy_rights", "debt_evasion", "credit_repair", "loan_broker", "impersonation", "deepfake", "legit_complaint"]
BORDERLINE = {"tri-007", "tri-019", "tri-033", "tri-041", "tri-058"}  # right label, confidence 0.6–0.75


def recorded_cases():
    """60 triage cases with the engine output recorded for each (label, confidence)."""
    cases, outputs = [], {}
    for i in range(1, 61):
        cid = f"tri-{i:03d}"
        label = LABELS[i % len(LABELS)]
        text = f"第{i}条投诉文本"
        cases.append({"id": cid, "text": text, "label": label})
        outputs[text] = (label, 0.6 + 0.03 * (i % 5) if cid in BORDERLINE else 0.93)
    return cases, outputs


class ThresholdTriage:
    """A triage engine over recorded outputs that abstains below its prompt's ``abstain_below``."""

    def __init__(self, service, outputs):
        self.service, self.outputs = service, outputs

    def classify_many(self, texts):
        threshold = self.service.prompt("triage").spec.params["abstain_below"]
        out = []
        for t in texts:
            label, conf = self.outputs[t]
            out.append({"label": label, "confidence": conf, "abstain": conf < threshold, "scores": {label: conf},
                        "red_flags": [], "evidence": [], "action": "转人工复核" if conf < threshold else ""})
        return out


@pytest.fixture
def prompts(tmp_path):
    root = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", root)
    for version, threshold in ((1, 0.5), (2, 0.8)):
        (root / "triage").mkdir(exist_ok=True)
        spec = {"id": "triage", "version": version, "description": f"研判，低于 {threshold} 转人工",
                "params": {"abstain_below": threshold}, "variables": ["complaint"],
                "system": "你是投诉研判助手。\n", "user": "<投诉>{{ complaint }}</投诉>\n"}
        (root / "triage" / f"v{version}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return root


@pytest.fixture
def two_runs(settings, hash_embedder, prompts, tmp_path):
    cases, outputs = recorded_cases()
    set_path = tmp_path / "triage.jsonl"
    set_path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    settings = settings.model_copy(update={"prompts_dir": prompts})

    def make(s):
        svc = Service(s, embedder=hash_embedder, llm=None)
        svc.__dict__["triage"] = ThresholdTriage(svc, outputs)
        return svc

    base = run_eval("triage", set_path, settings, prompt="triage@1", make_service=make)
    current = run_eval("triage", set_path, settings, prompt="triage@2", make_service=make)
    return base, current


def test_a_threshold_change_that_breaks_five_cases_lists_exactly_those_five(two_runs):
    base, current = two_runs
    assert base.meta["prompt"]["version"] == 1 and current.meta["prompt"]["version"] == 2
    d = compare(base, current)  # the committed gates file
    assert {f.id for f in d.to_fail} == BORDERLINE and len(d.to_fail) == 5
    assert d.to_pass == [] and d.changed == 0
    assert d.baseline["macro_f1"] == 1.0 and d.current["macro_f1"] < 0.98
    assert {b.metric for b in d.breaches} >= {"macro_f1", "pass→fail"}
    assert d.failed
    flip = next(f for f in d.to_fail if f.id == "tri-007")
    assert flip.baseline["output"]["abstain"] is False and flip.current["output"]["abstain"] is True


def test_diff_cli_prints_the_five_side_by_side_and_exits_1(two_runs, tmp_path, capsys):
    from evals.cli import main

    base, current = two_runs
    b, c = write_run(base, tmp_path / "b" / "run.jsonl"), write_run(current, tmp_path / "c" / "run.jsonl")
    html, md = tmp_path / "diff.html", tmp_path / "diff.md"
    assert main(["diff", str(b), str(c), "--html", str(html), "--md", str(md)]) == 1
    out = capsys.readouterr().out
    section = out.split("由通过变为失败（pass→fail）：")[1].split("由失败变为通过")[0]
    assert section.startswith("5 条")
    assert set(re.findall(r"^- (tri-\d+)", section, re.M)) == BORDERLINE
    tri7 = section.split("- tri-007")[1].split("\n- ")[0]
    assert "基线：proxy_rights（置信度 0.66）" in tri7 and "本次：abstain（置信度 0.66）" in tri7
    assert "门槛未通过" in out and "macro_f1" in out
    for f in BORDERLINE:
        assert f in html.read_text(encoding="utf-8") and f in md.read_text(encoding="utf-8")


def test_the_same_run_twice_passes_every_gate(two_runs, tmp_path):
    from evals.cli import main

    base, _ = two_runs
    path = write_run(base, tmp_path / "run.jsonl")
    d = compare(base, base)
    assert not d.to_fail and not d.to_pass and not d.breaches
    assert all(delta == 0 for _m, _b, _c, delta in d.table())
    assert main(["diff", str(path), str(path)]) == 0


def test_fixing_cases_lists_them_as_fail_to_pass(two_runs):
    base, current = two_runs
    d = compare(current, base)
    assert {f.id for f in d.to_pass} == BORDERLINE and not d.to_fail and not d.breaches


# ---------------------------------------------------------------------------- gates
def test_absolute_and_relative_gates_each_fire():
    gates = {"triage": {"macro_f1": {"min": 0.9, "max_drop": 0.02}, "legit_fp_rate": {"max": 0.03, "max_rise": 0.01}}}
    ok = check_gates("triage", {"macro_f1": 0.95, "legit_fp_rate": 0.0}, {"macro_f1": 0.94, "legit_fp_rate": 0.005}, 0, gates)
    assert ok == []
    low = check_gates("triage", {"macro_f1": 0.95}, {"macro_f1": 0.89, "legit_fp_rate": 0.0}, 0, gates)
    assert [(b.metric, b.rule) for b in low] == [("macro_f1", "min"), ("macro_f1", "max_drop")]
    fp = check_gates("triage", {"legit_fp_rate": 0.0}, {"macro_f1": 0.95, "legit_fp_rate": 0.02}, 0, gates)
    assert [(b.metric, b.rule) for b in fp] == [("legit_fp_rate", "max_rise")]
    assert "较基线上升超过 0.01" in str(fp[0])
    assert check_gates("answer", {}, {"citation_validity": 0.98}, 0, {"answer": {"citation_validity": {"min": 1.0}}})


def test_new_failures_gate_counts_flips():
    gates = {"retrieval": {"max_new_failures": 2}}
    assert check_gates("retrieval", {}, {}, 2, gates) == []
    assert [b.rule for b in check_gates("retrieval", {}, {}, 3, gates)] == ["max_new_failures"]


def test_gate_on_a_metric_the_task_does_not_have_is_an_error():
    with pytest.raises(EvalError, match=r"gates\.yaml：retrieval\.hit@100 不是本次评测的指标"):
        check_gates("retrieval", {}, {"hit@10": 1.0}, 0, {"retrieval": {"hit@100": {"min": 0.5}}}, Path("gates.yaml"))


def test_bad_gates_files_are_explained(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text("triage:\n  macro_f1: {minimum: 0.9}\n", encoding="utf-8")
    with pytest.raises(EvalError, match="应为 {min, max, max_drop, max_rise}"):
        load_gates(bad)
    bad.write_text("triage:\n  max_new_failures: -1\n", encoding="utf-8")
    with pytest.raises(EvalError, match="非负整数"):
        load_gates(bad)


def test_committed_gates_file_is_valid_and_names_real_metrics():
    from evals.scorers import quality_metrics

    gates = load_gates(GATES_FILE)
    assert gates["triage"]["macro_f1"]["min"] == 0.90 and gates["triage"]["legit_fp_rate"]["max"] == 0.03
    assert gates["answer"]["citation_validity"]["min"] == 1.0
    samples = {"retrieval": ({"relevant": ["a"]}, {"ranked": ["a"]}),
               "answer": ({"must_include": []}, {"answer": "x", "citations": [], "sources": []}),
               "triage": ({"label": "deepfake"}, {"label": "deepfake"}),
               "draft": ({}, {"text": "x", "checks": []}),
               "leads": ({"id": "c"}, {"entities": []})}
    for task, rules in gates.items():
        case, output = samples[task]
        case = {"id": "c", **case}
        metrics = quality_metrics(task, [{"id": "c", "case": case, "output": output,
                                          "scores": score_case(task, case, output)}])[0]
        assert set(rules) - {"max_new_failures"} <= set(metrics), task


# ---------------------------------------------------------------------------- comparability
def test_different_tasks_cannot_be_compared(two_runs):
    base, _ = two_runs
    other = Run({**base.meta, "task": "retrieval"}, [])
    with pytest.raises(EvalError, match="不能比较不同任务"):
        compare(base, other, gates={})


def test_differences_beside_the_change_are_pointed_out(two_runs):
    base, current = two_runs
    moved = Run({**current.meta, "dataset_sha256": "0" * 64, "store": {**current.meta["store"], "sha256": "x"}},
                current.rows[:-1])
    d = compare(base, moved, gates={})
    text = render_text(d)
    assert "评测集不同" in text and "知识库内容不同" in text and "仅基线有 1 条" in text
    assert "门槛全部通过" in text
