"""The CLIs as a user runs them: subprocesses, real model, a temporary store."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

REG = """---
id: reg-900
kind: regulation
title: 征信异议处理示例规定
issuer: 测试机关
date: 2020-01-01
topics: [征信, 异议]
---
## 异议
信息主体认为信用报告信息有误的，可以免费向征信机构提出异议。征信机构应当在二十日内处理。
## 禁止
任何机构和个人不得以收费为条件承诺删除真实的不良信息。
"""
CASES = [
    {"id": "case-9001", "text": "客户反映有人自称征信修复公司，收费三千元可删除逾期记录，微信 zx_xiufu01。", "label": "credit_repair",
     "date": "2024-01-02", "channel": "12378热线"},
    {"id": "case-9002", "text": "客户称冒充客服来电要求屏幕共享并转账到安全账户，来电 13987650002。", "label": "impersonation",
     "date": "2024-02-03", "channel": "APP反馈"},
]


@pytest.fixture(scope="module")
def env(tmp_path_factory, real_embedder):
    from rag.backends import resolve_embedding_model

    model_dir = resolve_embedding_model(real_embedder.settings)  # converted once, shared
    data = tmp_path_factory.mktemp("cli")
    src = data / "src"
    (src / "regulations").mkdir(parents=True)
    (src / "regulations" / "reg-900.md").write_text(REG, encoding="utf-8")
    (src / "cases").mkdir()
    (src / "cases" / "cases.jsonl").write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in CASES), encoding="utf-8")
    e = {**os.environ, "XS_DATA_DIR": str(data / "data"), "XS_EMBEDDING_MODEL": model_dir, "HF_HUB_OFFLINE": "1"}
    return e, src


def run(env, *args, stdin=None):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, input=stdin, capture_output=True,
                          text=True, timeout=240)


def test_ingest_search_ask_roundtrip(env):
    e, src = env
    bad = src / "broken.txt"
    bad.write_bytes(b"\x00\x01\x02junk")
    r = run(e, "-m", "ingest", str(src / "regulations"), str(src / "cases" / "cases.jsonl"), str(bad), "--kind", "auto")
    assert r.returncode == 1, r.stderr
    assert "broken.txt" in r.stderr and "NUL" in r.stderr and "Traceback" not in r.stderr
    assert "新增 3" in r.stdout
    bad.unlink()

    again = run(e, "-m", "ingest", str(src / "regulations"), str(src / "cases" / "cases.jsonl"))
    assert again.returncode == 0 and "未变 3" in again.stdout and "片段新增 0" in again.stdout

    r = run(e, "-m", "rag", "search", "花钱删除逾期记录", "--k", "3", "--json")
    assert r.returncode == 0, r.stderr
    hits = json.loads(r.stdout)
    assert set(hits[0]) == {"doc_id", "chunk_id", "score", "title", "kind", "text", "metadata"}
    assert hits[0]["doc_id"] in {"reg-900", "case-9001"}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    r = run(e, "-m", "rag", "search", "13987650002", "--kind", "case", "--json")
    assert json.loads(r.stdout)[0]["doc_id"] == "case-9002"

    batch = '{"id": "q1", "text": "屏幕共享 安全账户"}\n{"id": "q2", "text": "征信异议 二十日"}\n'
    r = run(e, "-m", "rag", "search", "--input", "-", "--k", "2", stdin=batch)
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["id"] for row in rows] == ["q1", "q2"]
    assert rows[0]["hits"][0]["doc_id"] == "case-9002" and rows[1]["hits"][0]["doc_id"] == "reg-900"

    r = run(e, "-m", "rag", "ask", "征信修复公司说能删除逾期记录，可信吗？", "--json")
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["backend"] == "offline" and "未使用大语言模型" in answer["answer"]
    assert answer["citations"] and all(f"[S{c['n']}]" in answer["answer"] for c in answer["citations"])


def test_bad_input_is_one_clear_line(env):
    e, _ = env
    r = run(e, "-m", "rag", "search", "--input", "/nonexistent.jsonl")
    assert r.returncode == 1 and r.stderr.strip() == "错误：找不到输入文件 /nonexistent.jsonl"
    r = run(e, "-m", "rag", "search", "--input", "-", stdin="not json\n")
    assert r.returncode == 1 and "第 1 行不是合法 JSON" in r.stderr and "Traceback" not in r.stderr
    r = run(e, "-m", "ingest", "/nonexistent-dir")
    assert r.returncode == 1 and "不存在" in r.stderr
