"""Run one task over an eval set through the Service and record a run: a metadata line, then a row
per case (output, scores, latency, tokens, estimated cost, prompt hash).

The work per task is in :mod:`evals.adapters`, the sets in :mod:`evals.cases`. A ``--prompt task@N``
override is applied by pointing the service at a copy of ``prompts/`` whose ``active.yaml`` names
that version, so every engine that loads its prompt through the settings picks it up without
knowing about evals (and an engine that stamps a different prompt on its output is caught).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from evals.adapters import ADAPTERS, ENGINES, PROMPT_TASKS, EngineMissing, warm_up  # noqa: F401 (re-exported)
from evals.cases import DEFAULT_SETS, ROOT, SETS_DIR, EvalError, load_set, read_jsonl, sha256_file  # noqa: F401
from evals.scorers import TASKS, score_case
from rag.prompts import Prompt, PromptError, load_prompt, parse_ref
from rag.settings import Settings

RUNS_DIR = ROOT / "evals" / "runs"
SCHEMA = 1
Progress = Callable[[int, int, str], None]


@dataclass
class Run:
    meta: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def task(self) -> str:
        return self.meta["task"]




# ------------------------------------------------------------------------------------ runs
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def store_fingerprint(svc) -> dict[str, Any]:
    """What the knowledge base held: a run is only comparable with one over the same documents."""
    docs = svc.kb.ledger.documents()
    h = hashlib.sha256("\n".join(f"{d['doc_id']} {d['fingerprint']}" for d in docs).encode())
    return {"documents": len(docs), "chunks": svc.kb.ledger.chunk_count(), "sha256": h.hexdigest()}


def settings_snapshot(settings: Settings) -> dict[str, Any]:
    keys = ("embedding_model", "chunk_chars", "chunk_overlap_chars", "top_k", "rrf_k", "candidates",
            "llm_temperature", "llm_max_tokens", "token_encoding")
    return {k: getattr(settings, k) for k in keys}


def price(settings: Settings, model: str) -> tuple[float, float]:
    """(per 1k prompt tokens, per 1k completion tokens) for ``model``; 0 when the table has none."""
    return tuple(settings.llm_price_per_1k.get(model, (0.0, 0.0)))  # type: ignore[return-value]


def resolve_prompt(task: str, ref: str | None, prompts_dir: Path) -> Prompt | None:
    try:
        if ref:
            ref_task, _ = parse_ref(ref)
            if ref_task != task:
                raise EvalError(f"--prompt {ref} 属于任务 {ref_task}，而本次评测的任务是 {task}（应写作 {task}@版本）")
            return load_prompt(ref, prompts_dir)
        if task in PROMPT_TASKS and (prompts_dir / task).is_dir():
            return load_prompt(task, prompts_dir)
    except PromptError as exc:
        raise EvalError(str(exc)) from None
    return None


def prompts_with(prompt: Prompt, prompts_dir: Path, tmp: Path) -> Path:
    """A copy of the prompts folder whose active.yaml names ``prompt``'s version."""
    copy = tmp / "prompts"
    shutil.copytree(prompts_dir, copy)
    active_file = copy / "active.yaml"
    active = (yaml.safe_load(active_file.read_text(encoding="utf-8")) or {}) if active_file.exists() else {}
    active[prompt.spec.id] = prompt.spec.version
    active_file.write_text(yaml.safe_dump(active, allow_unicode=True, sort_keys=True), encoding="utf-8")
    return copy


def default_service(backend: str) -> Callable[[Settings], Any]:
    def make(settings: Settings):
        from rag.service import Service

        return Service(settings, llm=None if backend == "offline" else True)

    return make


def run_eval(task: str, set_path: Path, settings: Settings, *, prompt: str | None = None, backend: str = "offline",
             repeat: int = 1, make_service: Callable[[Settings], Any] | None = None,
             progress: Progress | None = None) -> Run:
    """Run ``task`` over the set ``repeat`` times; rows come back in set order, repetition by repetition."""
    if task not in TASKS:
        raise EvalError(f"未知的评测任务 {task!r}（可选：{', '.join(TASKS)}）")
    if backend not in ("offline", "openai"):
        raise EvalError(f"未知的后端 {backend!r}（可选：offline, openai）")
    if backend == "openai" and not settings.llm_configured:
        raise EvalError("--backend openai 需要先配置大模型接口：XS_LLM_BASE_URL 与 XS_LLM_MODEL（或 xiansuo.toml）")
    if repeat < 1:
        raise EvalError(f"--repeat 应为正整数，收到 {repeat}")
    if backend == "offline":
        settings = settings.model_copy(update={"llm_base_url": "", "llm_model": ""})
    cases, files = load_set(task, set_path)
    loaded = resolve_prompt(task, prompt, settings.prompts_dir)
    model = settings.llm_model if backend == "openai" else "offline"
    per_1k_prompt, per_1k_completion = price(settings, model)
    started = datetime.now(timezone.utc)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="xs-eval-") as tmp:
        if loaded is not None:
            settings = settings.model_copy(update={"prompts_dir": prompts_with(loaded, settings.prompts_dir, Path(tmp))})
        svc = (make_service or default_service(backend))(settings)
        warm_up(svc, task, cases, backend)
        total = len(cases) * repeat
        for rep in range(repeat):
            for i, (case, out) in enumerate(zip(cases, ADAPTERS[task](svc, cases, loaded))):
                _check_prompt(out.output, loaded)
                pt, ct = count(out.prompt_text, settings), count(out.completion_text, settings)
                rows.append({
                    "type": "case", "id": case["id"], "repeat": rep, "case": case, "output": out.output,
                    "scores": score_case(task, case, out.output), "latency_ms": round(out.latency_ms, 3),
                    "prompt_tokens": pt, "completion_tokens": ct,
                    "cost": round(pt / 1000 * per_1k_prompt + ct / 1000 * per_1k_completion, 8),
                    "prompt_sha256": loaded.sha256 if loaded else None,
                })
                if progress:
                    progress(rep * len(cases) + i + 1, total, case["id"])
        store = store_fingerprint(svc)
    meta = {
        "type": "meta", "schema": SCHEMA, "task": task,
        "set": _relative(set_path), "dataset_sha256": sha256_file(*files), "cases": len(cases),
        "prompt": ({"id": loaded.spec.id, "version": loaded.spec.version, "sha256": loaded.sha256, "ref": loaded.ref}
                   if loaded else None),
        "backend": backend, "model": model, "commit": git_commit(), "store": store,
        "settings": settings_snapshot(settings), "price_per_1k": [per_1k_prompt, per_1k_completion],
        "repeat": repeat, "started": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(timezone.utc) - started).total_seconds(), 3),
    }
    return Run(meta, rows)


def _check_prompt(output: dict[str, Any], loaded: Prompt | None) -> None:
    """An engine that stamps its prompt must have used the one this run asked for."""
    stamp = output.get("prompt") if isinstance(output.get("prompt"), dict) else output
    used = stamp.get("prompt_sha256")
    if used and loaded is not None and used != loaded.sha256:
        raise EvalError(f"引擎使用的提示词（sha256 {used[:12]}）不是本次评测指定的 {loaded.ref}（{loaded.sha256[:12]}）")


def count(text: str, settings: Settings) -> int:
    from rag.tokens import count_tokens

    return count_tokens(text, settings.token_encoding) if text else 0


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------ files
def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


def write_run(run: Run, path: Path) -> Path:
    """Write the run as JSONL (metadata line first), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(dumps(run.meta) + "\n")
        for row in run.rows:
            f.write(dumps(row) + "\n")
    tmp.replace(path)
    return path


def load_run(path: Path) -> Run:
    """A run from its JSONL file, or from a run folder holding ``run.jsonl``."""
    path = path / "run.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise EvalError(f"找不到评测结果 {path}（给出 run.jsonl 文件或其所在目录）")
    lines = read_jsonl(path)
    if not lines or lines[0].get("type") != "meta":
        raise EvalError(f"{path} 不是评测结果文件：第一行应为元数据（type: meta）")
    return Run(lines[0], lines[1:])


def run_dir_name(run: Run) -> str:
    stamp = run.meta["started"].replace(":", "").replace("-", "").replace("+0000", "")[:15]
    version = f"-v{run.meta['prompt']['version']}" if run.meta.get("prompt") else ""
    return f"{stamp}-{run.task}{version}-{run.meta['backend']}"


def corpus_settings(settings: Settings, store: Path | None = None, corpus: Path = ROOT / "corpus",
                    progress: Progress | None = None, make_service: Callable[[Settings], Any] | None = None) -> Settings:
    """Settings for a store holding exactly the sample corpus (built or brought up to date here).

    Baselines are measured on it, whatever the default store holds (default ``<data_dir>/eval_store``).
    """
    from ingest.pipeline import ingest_paths

    settings = settings.model_copy(update={"store": store or settings.data_dir / "eval_store"})
    svc = (make_service or default_service("offline"))(settings)
    stats = ingest_paths(svc.kb, [corpus], progress=progress, prune=True)
    if stats.failed:
        raise EvalError(f"样例知识库导入失败：{stats.failed[0][0]}：{stats.failed[0][1]}")
    return settings
