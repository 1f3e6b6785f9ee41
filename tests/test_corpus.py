"""Schema and quality checks for the sample knowledge base (corpus/) and the eval sets (evals/sets/).

The rules live in corpus/tools/corpus_check.py, shared with corpus/tools/corpus_stats.py;
corpus/README.md describes the schema in words.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
SETS = ROOT / "evals" / "sets"
TAXONOMY = ROOT.parent / "shared" / "TAXONOMY.md"


def _import_checker():
    spec = importlib.util.spec_from_file_location("corpus_check", CORPUS / "tools" / "corpus_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cc = _import_checker()


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return cc.load_corpus(CORPUS)


@pytest.fixture(scope="module")
def docs_by_id(docs) -> dict:
    return {d["id"]: d for d in docs}


def of_kind(docs, kind):
    return [d for d in docs if d.get("kind") == kind]


def report(problems) -> str:
    return "\n".join(problems[:40]) + (f"\n… and {len(problems) - 40} more" if len(problems) > 40 else "")


def load_set(name: str) -> list[dict]:
    path = SETS / name
    if not path.exists():
        pytest.fail(f"{path} is missing")
    return cc.load_jsonl(path)


# --------------------------------------------------------------------------- the corpus
def test_every_document_matches_the_schema(docs):
    problems = [f"{d['_source']} ({d.get('id')}): {e}" for d in docs for e in cc.validate_doc(d)]
    assert not problems, report(problems)


def test_ids_are_unique_across_the_corpus(docs):
    assert not cc.duplicate_ids(docs)


def test_regulation_files_are_named_after_their_id(docs):
    wrong = [
        d["_source"]
        for d in of_kind(docs, "regulation")
        if not re.fullmatch(re.escape(d["id"]) + r"-[a-z0-9-]+\.md", Path(d["_source"]).name)
    ]
    assert not wrong, report(wrong)


def test_there_are_enough_regulations_and_scripts(docs):
    assert len(of_kind(docs, "regulation")) >= 30
    scripts = of_kind(docs, "script")
    assert len(scripts) >= 60
    per_label = {label: sum(s["label"] == label for s in scripts) for label in cc.BLACK_LABELS}
    thin = {label: n for label, n in per_label.items() if n < 9}
    assert not thin, f"labels with fewer than 9 scripts: {thin}"


def test_there_are_enough_cases(docs):
    if not list((CORPUS / "cases").glob("*.jsonl")):
        pytest.skip("corpus/cases/*.jsonl not written yet")
    assert len(of_kind(docs, "case")) >= 240


def test_scripts_vary_in_length(docs):
    lengths = sorted(len(s["text"]) for s in of_kind(docs, "script"))
    assert lengths[0] <= 60, "no SMS-length script"
    assert lengths[-1] >= 600, "no letter-length script"


def test_no_two_documents_share_more_than_half_their_shingles(docs):
    pairs = cc.overlap_pairs(docs, threshold=cc.MAX_OVERLAP)
    problems = [f"{a} ~ {b}: {score:.2f} (give both the same template_id if deliberate)" for score, a, b in pairs]
    assert not problems, report(problems)


def test_labels_match_the_shared_taxonomy():
    if not TAXONOMY.exists():
        pytest.skip(f"{TAXONOMY} not present")
    codes = re.findall(r"^\| `([a-z_]+)` \|", TAXONOMY.read_text(encoding="utf-8"), re.M)
    assert tuple(codes) == cc.LABELS


# --------------------------------------------------------------------------- the checkers can fail
def test_the_validator_rejects_broken_documents():
    bad = {
        "id": "scr-12", "kind": "script", "title": "t", "text": "先交服务费", "label": "scam",
        "red_flags": ["包下款"], "channel": "短信", "date": "2024-13",
    }
    errors = " | ".join(cc.validate_doc(bad))
    for needle in ("scr-12", "'scam'", "'包下款' is not a substring", "2024-13"):
        assert needle in errors


def test_the_validator_rejects_a_short_regulation_and_a_bad_case():
    reg = {"id": "reg-001", "kind": "regulation", "title": "t", "issuer": "i", "topics": [],
           "source": "s", "text": "太短", "doc_number": ""}
    errors = " | ".join(cc.validate_doc(reg))
    assert "topics" in errors and "fewer than 300" in errors and "doc_number" in errors
    case = {"id": "case-0001", "kind": "case", "text": "x", "label": "legit_complaint", "date": "2024-02",
            "region": "广东省", "channel": "网络投诉平台", "outcome": "已办结",
            "identifiers": [{"type": "phone", "value": "13900000000"}], "access": "everyone"}
    errors = " | ".join(cc.validate_doc(case))
    assert "YYYY-MM-DD" in errors and "'phone'" in errors and "'everyone'" in errors


def test_the_overlap_rule_flags_near_copies_unless_a_template_is_declared():
    text = "请贵司勿再直接联系委托人，一切事宜由我司协商专员对接，减免全部利息罚息。"
    a = {"id": "scr-901", "text": text}
    b = {"id": "scr-902", "text": text.replace("贵司", "你司", 1)}
    assert [(x, y) for _, x, y in cc.overlap_pairs([a, b], cc.MAX_OVERLAP)] == [("scr-901", "scr-902")]
    a["template_id"] = b["template_id"] = "tpl-demo"
    assert cc.overlap_pairs([a, b], cc.MAX_OVERLAP) == []
    assert cc.overlap(cc.shingles("甲乙丙丁戊己"), cc.shingles("庚辛壬癸子丑")) == 0.0


def test_dates_must_be_real():
    assert cc.is_date("2021-08-20") and cc.is_date("2021-08")
    assert not cc.is_date("2021-02-30") and not cc.is_date("2021-8-1")
    assert not cc.is_date("2021-08", day_required=True)


# --------------------------------------------------------------------------- eval sets
def test_every_eval_set_has_unique_ids_and_known_documents(docs_by_id):
    problems = []
    for path in sorted(SETS.glob("*.json*")):
        rows = cc.load_jsonl(path) if path.suffix == ".jsonl" else [json.loads(path.read_text(encoding="utf-8"))]
        if path.suffix == ".jsonl":
            problems += [f"{path.name}: duplicate id {i!r}" for i in cc.duplicate_ids(rows)]
        unknown = set().union(*(cc.referenced_doc_ids(r) for r in rows)) - docs_by_id.keys()
        problems += [f"{path.name}: refers to {i}, which is not in the corpus" for i in sorted(unknown)]
    assert not problems, report(problems)


def test_retrieval_set(docs_by_id):
    rows = load_set("retrieval.jsonl")
    assert len(rows) >= 100
    assert {r["kind"] for r in rows} == {"regulation", "script", "case"}  # all three kinds
    problems = [f"{r.get('id')}: {e}" for r in rows for e in cc.validate_retrieval_row(r, docs_by_id)]
    assert not problems, report(problems)


def test_answer_set(docs_by_id):
    rows = load_set("answer.jsonl")
    assert sum(r.get("answerable") is True for r in rows) >= 60
    assert sum(r.get("answerable") is False for r in rows) >= 12
    problems = [f"{r.get('id')}: {e}" for r in rows for e in cc.validate_answer_row(r, docs_by_id)]
    assert not problems, report(problems)


def test_eval_questions_are_not_copied_from_the_documents(docs_by_id):
    problems = []
    for name, field, refs in (("retrieval.jsonl", "query", "relevant"), ("answer.jsonl", "question", "cite")):
        for row in load_set(name):
            question = cc.shingles(row[field])
            for doc_id in row[refs]:
                share = len(question & cc.shingles(docs_by_id[doc_id]["text"])) / len(question)
                if share > 0.6:
                    problems.append(f"{row['id']}: {share:.2f} of its shingles come from {doc_id}")
    assert not problems, report(problems)


@pytest.mark.parametrize("name", ["triage.jsonl", "triage_dev.jsonl"])
def test_triage_set_items_are_not_in_the_knowledge_base(docs_by_id, name):
    """The triage model learns from the corpus; an eval item that is (nearly) a corpus document
    would be scored on its own training text. Same rule as between documents: over half of the
    item's 5-character shingles inside one case or script fails. The development set (tuning) and
    the team set (reporting) are checked alike."""
    docs = [(doc_id, cc.shingles(d["text"])) for doc_id, d in docs_by_id.items() if d.get("kind") != "regulation"]
    problems = []
    for row in load_set(name):
        item = cc.shingles(row["text"])
        worst = max(((cc.overlap(item, s), doc_id) for doc_id, s in docs), default=(0.0, ""))
        if worst[0] > 0.5:
            problems.append(f"{row['id']}: {worst[0]:.2f} of its shingles are in {worst[1]}")
    assert not problems, report(problems)


def test_triage_dev_set_is_apart_from_the_team_set():
    """Choices tuned on the development set are reported on the team set: no item may be (nearly)
    in both, and the dev set covers every label with its hard items marked."""
    team = [cc.shingles(r["text"]) for r in load_set("triage.jsonl")]
    dev = load_set("triage_dev.jsonl")
    problems = [f"{r['id']}: {max(cc.overlap(cc.shingles(r['text']), t) for t in team):.2f} of its shingles in one team item"
                for r in dev if max(cc.overlap(cc.shingles(r["text"]), t) for t in team) > 0.5]
    labels = {r["label"] for r in dev}
    assert labels == {r["label"] for r in load_set("triage.jsonl")}
    assert all(isinstance(r["hard"], bool) for r in dev) and sum(r["hard"] for r in dev) >= len(dev) // 3
    assert not problems, report(problems)
