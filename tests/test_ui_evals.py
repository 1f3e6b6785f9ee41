"""The 评测 tab's handlers, called directly on a small store (hash embedder)."""

import json
import shutil

import pytest
import yaml

from evals import commands, runner
from evals.runner import run_eval, write_run
from rag.service import Service
from tests.conftest import ROOT
from tests.test_eval_runner import ANSWER, DOCS, RETRIEVAL, write_jsonl
from ui.evals import BASELINE, CURRENT, EvalHandlers


@pytest.fixture
def tab(settings, hash_embedder, tmp_path, monkeypatch):
    prompts = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", prompts)
    v2 = yaml.safe_load((prompts / "answer" / "v1.yaml").read_text(encoding="utf-8"))
    v2["version"] = 2
    (prompts / "answer" / "v2.yaml").write_text(yaml.safe_dump(v2, allow_unicode=True), encoding="utf-8")
    sets, baselines = tmp_path / "sets", tmp_path / "baselines"
    sets.mkdir()
    write_jsonl(sets / "answer.jsonl", ANSWER)
    write_jsonl(sets / "retrieval.jsonl", RETRIEVAL)
    monkeypatch.setattr(runner, "SETS_DIR", sets)
    monkeypatch.setattr(commands, "BASELINES_DIR", baselines)
    svc = Service(settings.model_copy(update={"prompts_dir": prompts}), embedder=hash_embedder, llm=None)
    svc.kb.add_documents(DOCS)
    return EvalHandlers(svc)


def test_choices_list_sets_versions_and_the_baseline_when_there_is_one(tab):
    sets, a, b = tab.choices("answer")
    assert sets["choices"][0] == "answer.jsonl"
    assert a["choices"] == ["answer@v1", "answer@v2"] and b["value"] == "answer@v2"
    assert tab.version_choices("retrieval") == [CURRENT]
    run = run_eval("retrieval", runner.SETS_DIR / "retrieval.jsonl", tab.service.settings,
                   make_service=lambda s: Service(s, embedder=tab.service.embedder, llm=None))
    write_run(run, commands.baseline_path("retrieval"))
    _, a, _ = tab.choices("retrieval")
    assert a["choices"] == [BASELINE, CURRENT]


def test_running_two_versions_shows_the_table_flips_and_report(tab):
    status, rows, flips, page, download = tab.run("answer", "answer.jsonl", "answer@v1", "answer@v2", "offline")
    assert "A** answer@v1 → **B** answer@v2" in status and "门槛" in status
    metrics = {r[0]: r for r in rows}
    assert metrics["citation_validity"][1:] == ["1", "1", "+0"]
    assert "由通过变为失败：0 条" in flips
    assert page.startswith('<iframe id="xs-eval-frame"') and "&lt;svg" in page and "<svg" not in page
    saved = open(download, encoding="utf-8").read()
    assert "<svg" in saved and "评测报告 · answer" in saved
    assert len(list((tab.service.settings.data_dir / "eval_runs").glob("*/run.jsonl"))) == 1


def test_running_against_the_committed_baseline(tab):
    base = run_eval("retrieval", runner.SETS_DIR / "retrieval.jsonl", tab.service.settings,
                    make_service=lambda s: Service(s, embedder=tab.service.embedder, llm=None))
    base.rows[0]["scores"]["pass"] = 0.0  # pretend r1 failed in the baseline
    write_run(base, commands.baseline_path("retrieval"))
    status, rows, flips, _page, _file = tab.run("retrieval", "retrieval.jsonl", BASELINE, CURRENT, "offline")
    assert "由失败变为通过 1 条" in status and "r1" in flips


def test_bad_choices_are_refused_without_running(tab):
    assert tab.run("answer", "../../etc/passwd", "answer@v1", "answer@v2")[0].startswith("评测集 ../../etc/passwd 不在")
    assert tab.run("answer", "", "answer@v1", "answer@v2")[0].startswith("请先选择")
    status = tab.run("answer", "answer.jsonl", "answer@v1", "answer@v7")[0]
    assert status.startswith("⚠") and "answer@7 不存在" in status


def test_the_tab_runs_over_http_in_the_workbench(tab):
    import app
    from gradio_client import Client

    from tests.test_app import free_port

    demo = app.build_app(tab.service)
    demo.queue(default_concurrency_limit=2)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, share=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        client.predict("answer", api_name="/eval_choices")  # what picking the task does in the page
        status, table, flips, page, download = client.predict("answer", "answer.jsonl", "answer@v1", "answer@v2",
                                                              "offline", api_name="/eval_run")
        assert "门槛" in status and "citation_validity" in str(table)
        assert "由通过变为失败：0 条" in flips and "srcdoc=" in page
        assert open(download, encoding="utf-8").read().startswith("<!DOCTYPE html>")
    finally:
        demo.close()
