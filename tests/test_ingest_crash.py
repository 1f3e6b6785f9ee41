"""``kill -9`` a real ingest process, then run it again: nothing duplicated, nothing missing, and the
ledger, the vector store and the keyword index agree, chunk for chunk.

Each case starts from the same store (version 1 of a source tree, fully ingested) and ingests
version 2 (rows changed, rows removed, a file removed, a file added) with ``--prune`` in small batches,
so every kind of write happens: new chunks, replaced chunks, stale chunks, deleted documents.
The process is killed with SIGKILL either at a named step (``XS_TEST_KILL_AT``) or at a random moment
of the write phase (after its ``read`` checkpoint), then the same command runs to completion. The
result must equal a clean ingest of version 2 into an empty store, and a third run embeds nothing.
A second writer, meanwhile, is refused at once.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.index import KnowledgeBase
from rag.keyword import KeywordIndex
from rag.settings import Settings
from tests.conftest import ROOT
from tests.fakes import HashEmbedder

pytestmark = pytest.mark.timeout(600)

# name[:n]: kill the n-th time the writer passes that step (see rag.index.checkpoint)
KILL_POINTS = [
    "read",  # all files read, nothing written
    "staged:1",  # first batch in the ledger as pending, nothing in the vector store
    "embedded:3",  # third batch embedded, not stored
    "upserted:2",  # vectors stored, stale chunks of replaced documents still there
    "stale_deleted:4",  # store updated, ledger still says pending
    "marked_done:1",  # one batch finished, the rest not started
    "marked_done:6",
    "deleted_from_ledger",  # pruned documents gone from the ledger, their vectors not yet
    "reconciled",  # store checked against the ledger, keyword index not rebuilt
    "keywords_saved",  # keyword index saved, its generation marker not yet written
]
RANDOM_KILLS = 4


def _rows(n: int, version: int) -> list[dict]:
    rng = random.Random(n)
    rows = []
    for i in range(n):
        sentences = rng.randint(1, 14)
        changed = version == 2 and i % 4 == 1
        text = "".join(f"第{i}号案例第{k}句：客户反映被冒充客服诱导转账{'（已补充材料）' if changed else ''}，"
                       f"联系电话139{rng.randint(10_000_000, 99_999_999)}。" for k in range(sentences))
        rows.append({"id": f"case-{n}-{i:03d}", "text": text, "label": "impersonation", "date": f"2024-0{i % 9 + 1}-01"})
    return rows


def make_source(root: Path, version: int) -> Path:
    (root / "cases").mkdir(parents=True)
    (root / "regulations").mkdir()
    for n in (20, 25, 30):
        rows = _rows(n, version)
        if version == 2 and n == 25:
            rows = rows[:-5]  # rows removed from a file that stays
        if version == 2 and n == 30:
            continue  # a whole file removed: --prune
        (root / "cases" / f"batch-{n}.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
                                                         encoding="utf-8")
    for i in range(4):
        body = "\n".join(f"## 第{k}章\n信息主体认为信息有误的，可以提出异议{'，机构应当在十五日内答复' if version == 2 and i == 0 else ''}。"
                         * 3 for k in range(6))
        (root / "regulations" / f"reg-{i}.md").write_text(f"---\nid: reg-{i}\ntitle: 条例{i}\n---\n{body}\n",
                                                         encoding="utf-8")
    if version == 2:
        (root / "cases" / "new.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in _rows(12, 1)),
                                                  encoding="utf-8")
    return root


def ingest_cmd(src: Path) -> list[str]:
    return [sys.executable, "-m", "tests.ingest_runner", str(src), "--prune", "--batch-chunks", "6", "--quiet"]


def env_for(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XS_TEST_")}
    return {**env, "XS_DATA_DIR": str(data), **extra}


def run(src: Path, data: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(ingest_cmd(src), cwd=ROOT, env=env_for(data, **extra), capture_output=True, text=True,
                          timeout=300)


def state_of(data: Path) -> dict:
    """Everything the three stores hold, read from disk as a new process would."""
    kb = KnowledgeBase(Settings(data_dir=data), HashEmbedder())
    ledger = kb.ledger.done_chunk_ids()
    got = kb.vectors.collection.get(include=["documents"])
    vector_ids = got["ids"]
    keywords = KeywordIndex(kb.settings.store_dir / "keyword")
    assert keywords.load(), "keyword index missing on disk"
    texts = kb.ledger.chunks(ledger)
    return {
        "ledger": ledger,
        "vectors": vector_ids,
        "vector_texts": dict(zip(got["ids"], got["documents"])),
        "ledger_texts": {cid: row["text"] for cid, row in texts.items()},
        "keywords": keywords.ids,
        "keyword_generation": kb._saved_keyword_generation(),
        "generation": kb.ledger.generation,
        "pending": kb.ledger.pending(),
        "dirty": kb.ledger.get_meta("dirty"),
        "documents": {d["doc_id"]: d["fingerprint"] for d in kb.ledger.documents()},
        "all_chunk_rows": kb.ledger.chunk_count(),
    }


def assert_consistent(data: Path, reference: dict) -> None:
    s = state_of(data)
    assert s["pending"] == [] and s["dirty"] is None
    assert len(s["vectors"]) == len(set(s["vectors"])), "duplicate ids in the vector store"
    assert len(s["keywords"]) == len(set(s["keywords"])), "duplicate ids in the keyword index"
    assert set(s["vectors"]) == s["ledger"] == set(s["keywords"]), "stores disagree"
    assert s["all_chunk_rows"] == len(s["ledger"])  # no orphan chunk rows in the ledger either
    assert s["keyword_generation"] == s["generation"]
    assert s["vector_texts"] == s["ledger_texts"]
    # nothing missing, nothing extra: exactly what a clean ingest of the same input gives
    assert s["ledger"] == reference["ledger"]
    assert s["documents"] == reference["documents"]


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """(version-2 source, a store holding version 1 of it, the state of a clean version-2 ingest)."""
    root = tmp_path_factory.mktemp("crash")
    src = root / "src"
    make_source(src, 1)
    base = root / "base"
    r = run(src, base)
    assert r.returncode == 0, r.stderr
    shutil.rmtree(src)
    make_source(src, 2)
    clean = root / "clean"
    r = run(src, clean)
    assert r.returncode == 0, r.stderr
    reference = state_of(clean)
    assert len(reference["documents"]) == 20 + 20 + 12 + 4
    return src, base, reference


def test_the_version_2_ingest_writes_every_kind_of_change(trees, tmp_path):
    src, base, reference = trees
    data = tmp_path / "data"
    shutil.copytree(base, data)
    r = run(src, data)
    assert r.returncode == 0, r.stderr
    assert "新增 12" in r.stdout and "删除 35" in r.stdout and "替换 " in r.stdout and "替换 0" not in r.stdout
    assert_consistent(data, reference)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_9_at_each_step_then_rerun(trees, tmp_path, point):
    src, base, reference = trees
    data = tmp_path / "data"
    shutil.copytree(base, data)
    killed = run(src, data, XS_TEST_KILL_AT=point)
    assert killed.returncode == -signal.SIGKILL, (point, killed.returncode, killed.stderr)
    again = run(src, data)
    assert again.returncode == 0, again.stderr
    assert_consistent(data, reference)
    third = run(src, data)
    assert third.returncode == 0 and "片段新增 0" in third.stdout and "新增 0，替换 0" in third.stdout, third.stdout


@pytest.mark.parametrize("seed", range(RANDOM_KILLS))
def test_kill_9_at_a_random_moment_then_rerun(trees, tmp_path, seed):
    src, base, reference = trees
    data = tmp_path / "data"
    shutil.copytree(base, data)
    proc = subprocess.Popen(ingest_cmd(src), cwd=ROOT, env=env_for(data, XS_TEST_TRACE="1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    steps = []
    for line in proc.stderr:  # wait for the write phase, then kill at a random instant within it
        steps.append(line.strip())
        if line.strip() == "checkpoint read":
            time.sleep(random.Random(seed).uniform(0.0, 0.6))
            break
    proc.kill()  # SIGKILL
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()
    assert "checkpoint read" in steps
    again = run(src, data)
    assert again.returncode == 0, again.stderr
    assert_consistent(data, reference)


def test_a_second_writer_is_refused_within_a_second(trees, tmp_path):
    src, base, _ = trees
    data = tmp_path / "data"
    shutil.copytree(base, data)
    first = subprocess.Popen(ingest_cmd(src), cwd=ROOT, env=env_for(data, XS_TEST_PAUSE_AT="staged"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert first.stderr.readline().strip() == "checkpoint staged"  # holding the lock, mid-write
        start = time.perf_counter()
        second = subprocess.run([sys.executable, "-m", "ingest", str(src)], cwd=ROOT, env=env_for(data),
                                capture_output=True, text=True, timeout=60)
        elapsed = time.perf_counter() - start
    finally:
        first.kill()
        first.wait(timeout=30)
        first.stdout.close()
        first.stderr.close()
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert second.stderr.strip().startswith("错误：知识库") and "正被另一个进程写入" in second.stderr
    assert f"PID {first.pid}" in second.stderr
    # the lock is tried before anything heavy is loaded: the refusal costs one interpreter start
    assert elapsed < 3.0, elapsed
    from rag.store import StoreLocked, WriterLock

    held = WriterLock(data / "store").acquire()
    try:
        t0 = time.perf_counter()
        with pytest.raises(StoreLocked, match="正被另一个进程写入"):
            WriterLock(data / "store").acquire()
        assert time.perf_counter() - t0 < 1.0
    finally:
        held.release()
