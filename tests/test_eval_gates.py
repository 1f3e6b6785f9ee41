"""CI's eval gate: the offline engine on the committed eval sets, over a store of the sample corpus,
must breach no gate of evals/gates.yaml against the committed baselines (evals/baselines/), and
two runs must score identically. Every task with a committed baseline is checked."""

from pathlib import Path

import pytest

from evals.commands import BASELINES_DIR, default_set
from evals.diff import compare, render_text
from evals.runner import ROOT, load_run, run_eval
from evals.scorers import TASKS
from rag.service import Service

BASELINES = sorted(p.stem for p in BASELINES_DIR.glob("*.jsonl") if p.stem in TASKS)


def test_retrieval_and_answer_have_committed_baselines():
    assert {"retrieval", "answer"} <= set(BASELINES)


@pytest.mark.parametrize("task", BASELINES)
def test_committed_baselines_name_prompt_versions_that_never_changed(task):
    """A prompt version a baseline refers to is frozen: new behaviour is a new file."""
    meta = load_run(BASELINES_DIR / f"{task}.jsonl").meta
    assert meta["set"] == str(default_set(task).relative_to(ROOT)) and meta["backend"] == "offline"
    if meta["prompt"]:
        path = ROOT / "prompts" / meta["prompt"]["id"] / f"v{meta['prompt']['version']}.yaml"
        import hashlib

        assert hashlib.sha256(path.read_bytes()).hexdigest() == meta["prompt"]["sha256"], (
            f"{path} changed after evals/baselines/{task}.jsonl was recorded with it: put the new text in a new "
            f"version file and run `python -m evals baseline {task}`")


@pytest.fixture(scope="module")
def offline(corpus_store, real_embedder):
    return lambda s: Service(s, embedder=real_embedder, llm=None)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("task", BASELINES)
def test_offline_engine_passes_the_gates_and_scores_identically_twice(task, corpus_store, offline):
    first = run_eval(task, default_set(task), corpus_store, make_service=offline)
    baseline = load_run(BASELINES_DIR / f"{task}.jsonl")
    d = compare(baseline, first)
    assert not d.breaches, render_text(d)
    second = run_eval(task, default_set(task), corpus_store, make_service=offline)
    assert [(r["id"], r["scores"]) for r in first.rows] == [(r["id"], r["scores"]) for r in second.rows]
    assert [r["output"] for r in first.rows] == [r["output"] for r in second.rows]


def test_runs_are_kept_out_of_git():
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/evals/runs/" in ignored and Path(ROOT / "evals" / "gates.yaml").is_file()
