"""Eval sets: one JSONL case a line with a stable ``id`` (a leads set is the gang ground truth over
the sample cases); checked on load, with errors that name the file, the line and the fix."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SETS_DIR = ROOT / "evals" / "sets"
DEFAULT_SETS = {"retrieval": "retrieval.jsonl", "answer": "answer.jsonl", "triage": "triage.jsonl",
                "draft": "draft.jsonl", "leads": "gangs.json"}


class EvalError(RuntimeError):
    """A user-facing failure of an eval command (bad set, missing engine, unknown prompt)."""


def sha256_file(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise EvalError(f"{path} 第 {lineno} 行不是合法 JSON：{exc.msg}") from None
    return rows


REQUIRED = {"retrieval": ("query", "relevant"), "answer": ("question",), "triage": ("text", "label"),
            "draft": ("label",), "leads": ("text",)}


def load_set(task: str, path: Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """The cases of a set, and the files that define it (hashed into the run's metadata).

    A leads set is ``{"gangs": [{"gang_id", "members", …}], "cases": "corpus/cases"}``: the cases
    (JSONL files under that folder, default ``corpus/cases``) with their ``identifiers``, each told
    the members of its gang. Every other set is JSONL, one case a line with a unique ``id``.
    """
    if not path.is_file():
        raise EvalError(f"找不到评测集 {path}（{task} 的默认评测集是 evals/sets/{DEFAULT_SETS[task]}）")
    files = [path]
    if task == "leads":
        try:
            spec = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise EvalError(f"{path} 不是合法 JSON：{exc.msg}（线索评测集应为 {{\"gangs\": [...]}}）") from None
        case_dir = ROOT / spec.get("cases", "corpus/cases")
        case_files = sorted(case_dir.glob("*.jsonl"))
        if not case_files:
            raise EvalError(f"线索评测集 {path} 引用的案例目录 {case_dir} 下没有 .jsonl 文件")
        cases = [c for f in case_files for c in read_jsonl(f)]
        gang_of = {m: g for g in spec.get("gangs", []) for m in g["members"]}
        for c in cases:
            c["gang_members"] = sorted(gang_of[c["id"]]["members"]) if c.get("id") in gang_of else []
        files += case_files
    else:
        cases = read_jsonl(path)
    seen: set[str] = set()
    for n, case in enumerate(cases, start=1):
        missing = [k for k in ("id", *REQUIRED[task]) if k not in case]
        if missing:
            raise EvalError(f"{path} 第 {n} 条缺少字段 {', '.join(missing)}（{task} 评测集每条需要 id, {', '.join(REQUIRED[task])}）")
        if case["id"] in seen:
            raise EvalError(f"{path} 中 id {case['id']!r} 重复：每条用例需要唯一的 id")
        seen.add(case["id"])
    if not cases:
        raise EvalError(f"评测集 {path} 为空")
    return cases, files
