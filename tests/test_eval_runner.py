"""The eval runner on a small store (hash embedder): run files, prompts, engines, determinism, CLI."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from evals import runner
from evals.runner import EngineMissing, EvalError, load_run, run_eval, write_run
from rag.documents import Document
from rag.service import Service
from tests.conftest import ROOT
from tests.fakes import FakeLLM

DOCS = [
    Document("reg-003", "## 异议\n不良信息自不良行为或者事件终止之日起保存5年。信息主体可以每年两次免费获取本人信用报告。",
             "regulation", "征信业管理条例"),
    Document("reg-007", "## 时限\n金融机构应当自收到投诉之日起15日内作出处理决定并告知投诉人。", "regulation", "投诉处理办法"),
    Document("scr-001", "专业征信修复，三天删除逾期记录，先交服务费，包过！", "script", "征信修复广告", {"label": "credit_repair"}),
]
RETRIEVAL = [
    {"id": "r1", "query": "不良信息保存几年", "relevant": ["reg-003"]},
    {"id": "r2", "query": "投诉多少日内作出处理决定", "relevant": ["reg-007"]},
    {"id": "r3", "query": "征信修复删除逾期记录", "relevant": ["scr-001"]},
]
ANSWER = [
    {"id": "a1", "question": "不良信息保存几年？", "must_include": ["5年"], "cite": ["reg-003"], "answerable": True},
    {"id": "a2", "question": "收到投诉后多少日内作出处理决定？", "must_include": ["15日内"], "cite": ["reg-007"], "answerable": True},
    {"id": "a3", "question": "香港放债人条例的利率上限是多少？", "must_include": [], "cite": [], "answerable": False},
]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def store(settings, hash_embedder):
    Service(settings, embedder=hash_embedder, llm=None).kb.add_documents(DOCS)
    return settings


@pytest.fixture
def offline(hash_embedder):
    return lambda s: Service(s, embedder=hash_embedder, llm=None)


@pytest.fixture
def sets(tmp_path):
    return {"retrieval": write_jsonl(tmp_path / "retrieval.jsonl", RETRIEVAL),
            "answer": write_jsonl(tmp_path / "answer.jsonl", ANSWER)}


def test_retrieval_run_records_metadata_then_one_row_per_case(store, offline, sets):
    run = run_eval("retrieval", sets["retrieval"], store, make_service=offline)
    meta = run.meta
    assert meta["type"] == "meta" and meta["task"] == "retrieval" and meta["backend"] == "offline"
    assert meta["dataset_sha256"] == hashlib.sha256(sets["retrieval"].read_bytes()).hexdigest()
    assert meta["prompt"] is None and meta["model"] == "offline" and meta["cases"] == 3
    assert meta["store"]["documents"] == 3 and len(meta["store"]["sha256"]) == 64
    assert meta["settings"]["top_k"] == store.top_k and meta["commit"]
    assert [r["id"] for r in run.rows] == ["r1", "r2", "r3"]
    first = run.rows[0]
    assert first["output"]["ranked"][0] == "reg-003" and first["scores"]["hit@1"] == 1.0
    assert first["prompt_tokens"] > 0 and first["completion_tokens"] == 0 and first["latency_ms"] > 0


def test_answer_run_records_prompt_hash_tokens_and_cost(store, offline, sets):
    priced = store.model_copy(update={"llm_price_per_1k": {"offline": (1.0, 2.0)}})
    run = run_eval("answer", sets["answer"], priced, make_service=offline)
    prompt_file = ROOT / "prompts" / "answer" / "v1.yaml"
    sha = hashlib.sha256(prompt_file.read_bytes()).hexdigest()
    assert run.meta["prompt"] == {"id": "answer", "version": 1, "sha256": sha, "ref": "answer@v1"}
    assert all(r["prompt_sha256"] == sha for r in run.rows)
    a1 = run.rows[0]
    assert "5年" in a1["output"]["answer"] and a1["scores"]["pass"] == 1.0
    assert a1["output"]["sources"][0] == "reg-003"
    # The prompt the model would be sent (sources included) is counted, and priced per 1k tokens.
    assert a1["prompt_tokens"] > 100 and a1["completion_tokens"] > 5
    assert a1["cost"] == pytest.approx(a1["prompt_tokens"] / 1000 * 1.0 + a1["completion_tokens"] / 1000 * 2.0)
    assert run.meta["price_per_1k"] == [1.0, 2.0]


def test_run_file_round_trips_with_the_metadata_line_first(store, offline, sets, tmp_path):
    run = run_eval("retrieval", sets["retrieval"], store, make_service=offline)
    path = write_run(run, tmp_path / "out" / "run.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["type"] == "meta" and len(lines) == 1 + len(RETRIEVAL)
    again = load_run(path.parent)
    assert again.meta == run.meta and again.rows == run.rows


def test_two_offline_runs_give_identical_scores_and_outputs(store, offline, sets):
    for task in ("retrieval", "answer"):
        a = run_eval(task, sets[task], store, make_service=offline)
        b = run_eval(task, sets[task], store, make_service=offline)
        assert [(r["id"], r["scores"], r["output"]) for r in a.rows] == [(r["id"], r["scores"], r["output"]) for r in b.rows]
        assert [r["prompt_tokens"] for r in a.rows] == [r["prompt_tokens"] for r in b.rows]


def test_repeat_runs_the_set_that_many_times(store, offline, sets):
    run = run_eval("retrieval", sets["retrieval"], store, make_service=offline, repeat=2)
    assert [(r["id"], r["repeat"]) for r in run.rows][:4] == [("r1", 0), ("r2", 0), ("r3", 0), ("r1", 1)]
    assert len(run.rows) == 6 and run.meta["repeat"] == 2


# ---------------------------------------------------------------------------- prompts
@pytest.fixture
def prompts_v2(tmp_path):
    """prompts/ with an answer@2 whose system prompt differs from answer@1."""
    root = tmp_path / "prompts"
    shutil.copytree(ROOT / "prompts", root)
    v2 = yaml.safe_load((root / "answer" / "v1.yaml").read_text(encoding="utf-8"))
    v2["version"] = 2
    v2["system"] = "第二版系统提示：只用资料回答。内部标记：{{ canary }}\n"
    (root / "answer" / "v2.yaml").write_text(yaml.safe_dump(v2, allow_unicode=True), encoding="utf-8")
    return root


def test_prompt_override_reaches_the_engine_and_is_recorded(store, sets, prompts_v2, hash_embedder):
    llm = FakeLLM(*["依据资料，不良信息保存5年。[S1]"] * 3)
    active = (prompts_v2 / "active.yaml").read_text(encoding="utf-8")
    configured = store.model_copy(update={"prompts_dir": prompts_v2, "llm_base_url": "http://127.0.0.1:9/v1",
                                          "llm_model": "fake-model"})
    run = run_eval("answer", sets["answer"], configured, prompt="answer@2", backend="openai",
                   make_service=lambda s: Service(s, embedder=hash_embedder, llm=llm))
    assert all(m[0]["content"].startswith("第二版系统提示") for m in llm.received)  # v2 was sent, three times
    llm.assert_done()
    sha2 = hashlib.sha256((prompts_v2 / "answer" / "v2.yaml").read_bytes()).hexdigest()
    assert run.meta["prompt"]["version"] == 2 and run.meta["prompt"]["sha256"] == sha2
    assert run.meta["backend"] == "openai" and run.meta["model"] == "fake-model"
    assert run.rows[0]["output"]["prompt"]["prompt_sha256"] == sha2  # the engine's own stamp agrees
    assert (prompts_v2 / "active.yaml").read_text(encoding="utf-8") == active  # the real file is untouched


def test_engine_that_ignores_the_prompt_override_is_caught(store, sets, prompts_v2, hash_embedder):
    class Stubborn(Service):
        def prompt(self, ref):  # always the active version, whatever the run asked for
            from rag.prompts import load_prompt

            return load_prompt("answer@1", prompts_v2)

    configured = store.model_copy(update={"prompts_dir": prompts_v2, "llm_base_url": "http://127.0.0.1:9/v1",
                                          "llm_model": "fake-model"})
    with pytest.raises(EvalError, match="不是本次评测指定的 answer@v2"):
        run_eval("answer", sets["answer"], configured, prompt="answer@2", backend="openai",
                 make_service=lambda s: Stubborn(s, embedder=hash_embedder, llm=FakeLLM("资料说保存5年。[S1]")))


def test_bad_prompt_references_are_explained(store, offline, sets):
    with pytest.raises(EvalError, match="属于任务 triage"):
        run_eval("answer", sets["answer"], store, prompt="triage@1", make_service=offline)
    with pytest.raises(EvalError, match=r"answer@9 不存在.*现有版本：1"):
        run_eval("answer", sets["answer"], store, prompt="answer@9", make_service=offline)


def test_an_empty_store_is_refused_with_the_command_that_fills_it(settings, offline, sets):
    with pytest.raises(EvalError, match="为空：先运行 python -m ingest corpus/"):
        run_eval("retrieval", sets["retrieval"], settings, make_service=offline)


def test_openai_backend_without_an_endpoint_says_what_to_set(store, sets):
    with pytest.raises(EvalError, match="XS_LLM_BASE_URL"):
        run_eval("answer", sets["answer"], store, backend="openai")


# ---------------------------------------------------------------------------- sets
def test_set_errors_name_the_file_and_the_fix(store, offline, tmp_path):
    missing = write_jsonl(tmp_path / "m.jsonl", [{"id": "x", "query": "q"}])
    with pytest.raises(EvalError, match=r"m\.jsonl 第 1 条缺少字段 relevant"):
        run_eval("retrieval", missing, store, make_service=offline)
    dup = write_jsonl(tmp_path / "d.jsonl", [RETRIEVAL[0], RETRIEVAL[0]])
    with pytest.raises(EvalError, match="重复"):
        run_eval("retrieval", dup, store, make_service=offline)
    broken = tmp_path / "b.jsonl"
    broken.write_text('{"id": "x", "query": "q", "relevant": []}\n{oops\n', encoding="utf-8")
    with pytest.raises(EvalError, match="第 2 行不是合法 JSON"):
        run_eval("retrieval", broken, store, make_service=offline)
    with pytest.raises(EvalError, match="找不到评测集"):
        run_eval("retrieval", tmp_path / "none.jsonl", store, make_service=offline)


def test_committed_sets_load():
    for task in ("retrieval", "answer"):
        cases, files = runner.load_set(task, runner.SETS_DIR / runner.DEFAULT_SETS[task])
        assert len(cases) > 50 and files == [runner.SETS_DIR / runner.DEFAULT_SETS[task]]


# ---------------------------------------------------------------------------- task engines
class Result:
    def __init__(self, **d):
        self.d = d

    def to_dict(self):
        return self.d


class FakeTriage:
    """Recorded engine outputs by text; records what it was asked."""

    def __init__(self, outputs):
        self.outputs, self.asked = outputs, []

    def classify_many(self, texts):
        self.asked.append(list(texts))
        return [Result(**self.outputs[t]) for t in texts]


def test_triage_runs_through_the_engine_with_recorded_outputs(store, tmp_path, hash_embedder):
    cases = [{"id": "t1", "text": "法务公司代理投诉要求全额减免", "label": "proxy_rights"},
             {"id": "t2", "text": "扣款金额不对，请核实", "label": "legit_complaint"}]
    outputs = {"法务公司代理投诉要求全额减免": {"label": "proxy_rights", "confidence": 0.9, "abstain": False},
               "扣款金额不对，请核实": {"label": "debt_evasion", "confidence": 0.7, "abstain": False}}
    engine = FakeTriage(outputs)

    def make(s):
        svc = Service(s, embedder=hash_embedder, llm=None)
        svc.__dict__["triage"] = engine
        return svc

    run = run_eval("triage", write_jsonl(tmp_path / "t.jsonl", cases), store, make_service=make)
    # One untimed warm-up call on the first case, then one call per case.
    assert engine.asked == [[cases[0]["text"]]] + [[c["text"]] for c in cases]
    assert [r["scores"]["pass"] for r in run.rows] == [1.0, 0.0]
    assert run.rows[1]["output"]["label"] == "debt_evasion"


def test_missing_engine_fails_with_a_clear_chinese_message(store, tmp_path, hash_embedder):
    class NoEngines(Service):
        @property
        def triage(self):
            raise ModuleNotFoundError("No module named 'rag.triage'", name="rag.triage")

    cases = write_jsonl(tmp_path / "t.jsonl", [{"id": "t1", "text": "x", "label": "legit_complaint"}])
    with pytest.raises(EngineMissing, match="任务 triage 的引擎尚未安装"):
        run_eval("triage", cases, store, make_service=lambda s: NoEngines(s, embedder=hash_embedder, llm=None))


class FakeDraft:
    text = "您好，我们将在15日内答复您。"
    checks = [{"rule": "no_promise", "passed": True, "detail": ""}]

    def to_dict(self):
        return {"text": self.text, "checks": self.checks, "backend": "offline"}


class FakeDrafter:
    def __init__(self):
        self.asked = []

    def draft(self, complaint, label):
        self.asked.append((complaint, label))
        return FakeDraft()


class FakeLeads:
    def entities(self, text):
        from rag.entities import extract

        return extract(text)

    def groups(self, items):
        ids = [i["id"] for i in items if "鼎衡" in i["text"]]
        return {"groups": [{"members": ids, "shared": ["鼎衡"], "score": 1.0}]}


def test_draft_and_leads_run_through_their_engines(store, tmp_path, hash_embedder):
    drafter, leads = FakeDrafter(), FakeLeads()

    def make(s):
        svc = Service(s, embedder=hash_embedder, llm=None)
        svc.__dict__.update(drafts=drafter, leads=leads)
        return svc

    dset = write_jsonl(tmp_path / "d.jsonl", [{"id": "d1", "complaint": "扣款错误", "label": "legit_complaint",
                                                "must_include": ["15日内"]}])
    run = run_eval("draft", dset, store, make_service=make)
    assert drafter.asked == [("扣款错误", "legit_complaint")] * 2 and run.rows[0]["scores"]["pass"] == 1.0

    cases = tmp_path / "cases"
    cases.mkdir()
    write_jsonl(cases / "cases.jsonl", [
        {"id": "c1", "text": "鼎衡法务来电 13900112233",
         "identifiers": [{"type": "org", "value": "鼎衡法务"}, {"type": "mobile", "value": "13900112233"}]},
        {"id": "c2", "text": "鼎衡法务微信", "identifiers": [{"type": "org", "value": "鼎衡法务"}]},
        {"id": "c3", "text": "扣款错误", "identifiers": []}])
    gangs = tmp_path / "gangs.json"
    gangs.write_text(json.dumps({"gangs": [{"gang_id": "G1", "members": ["c1", "c2"]}], "cases": str(cases)}), encoding="utf-8")
    run = run_eval("leads", gangs, store, make_service=make)
    assert [r["output"]["mates"] for r in run.rows] == [["c2"], ["c1"], []]
    assert all(r["scores"]["pass"] == 1.0 for r in run.rows)
    assert run.meta["dataset_sha256"] == hashlib.sha256(gangs.read_bytes() + (cases / "cases.jsonl").read_bytes()).hexdigest()


# ---------------------------------------------------------------------------- CLI
def test_cli_run_diff_and_report(store, offline, sets, tmp_path, monkeypatch, capsys):
    from evals.cli import main

    monkeypatch.setattr(runner, "default_service", lambda backend: offline)
    monkeypatch.setenv("XS_DATA_DIR", str(store.data_dir))
    out = tmp_path / "runs"
    assert main(["run", "retrieval", "--set", str(sets["retrieval"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hit@10=1" in printed
    (folder,) = out.iterdir()
    assert {p.name for p in folder.iterdir()} == {"run.jsonl", "report.html", "summary.md"}
    assert main(["diff", str(folder), str(folder / "run.jsonl")]) == 0
    assert "门槛全部通过" in capsys.readouterr().out
    assert main(["report", str(folder), "--md", str(tmp_path / "s.md")]) == 0
    assert "hit@10" in (tmp_path / "s.md").read_text(encoding="utf-8")
    assert main(["run", "triage", "--set", str(tmp_path / "none.jsonl")]) == 1
    assert "找不到评测集" in capsys.readouterr().err


def test_bench_command_still_parses():
    from evals.cli import build_parser

    args = build_parser().parse_args(["bench", "retrieval"])
    assert args.what == "retrieval" and args.func.__name__ == "_bench"
