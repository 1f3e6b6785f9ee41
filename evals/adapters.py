"""Task adapters: each runs one task over the cases through exactly what the product calls, and
yields per case the output, the latency and the texts whose tokens are counted.

retrieval → ``svc.search``; answer → ``svc.ask``; triage → ``svc.triage.classify_many``;
draft → ``svc.drafts.draft``; leads → ``svc.leads.entities`` per case, then ``svc.leads.groups``
over all of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from evals.cases import EvalError
from evals.scorers import ranked_documents
from rag.prompts import Prompt, PromptError

ENGINES = {"triage": ("triage", "rag/triage.py"), "draft": ("drafts", "rag/draft.py"), "leads": ("leads", "rag/leads.py")}
# Tasks whose engine renders a prompt (the leads prompt writes summaries, which this eval does not score).
PROMPT_TASKS = {"answer", "triage", "draft"}
RETRIEVAL_K = 10
# A fixed stand-in for the answer prompt's random canary, so token counts do not vary run to run.
CANARY = "XS-CANARY-000000000000"


class EngineMissing(EvalError):
    pass


@dataclass
class Outcome:
    output: dict[str, Any]
    latency_ms: float
    prompt_text: str  # what a model would be (or was) sent, for token counts
    completion_text: str


def engine(svc, task: str):
    """The task engine of the service, or a clear message while its module is not installed."""
    attr, module_file = ENGINES[task]
    try:
        return getattr(svc, attr)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("rag."):
            raise EngineMissing(f"任务 {task} 的引擎尚未安装（缺少 {module_file}），暂时无法评测该任务") from None
        raise


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - t0) * 1000


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _render(prompt: Prompt | None, fallback: str, **variables: Any) -> str:
    """The prompt text a model receives for this case. Where the engine adds context the eval does
    not see (similar cases, label lists), the templates plus the input: an estimate from below."""
    if prompt is None:
        return fallback
    try:
        return "\n".join(m["content"] for m in prompt.render(**variables))
    except PromptError:
        return f"{prompt.spec.system}\n{prompt.spec.user}\n{fallback}"


def run_retrieval(svc, cases, prompt) -> Iterator[Outcome]:
    for case in cases:
        hits, ms = _timed(lambda: svc.search(case["query"], k=RETRIEVAL_K))
        output = {"ranked": ranked_documents(h.doc_id for h in hits),
                  "hits": [{"doc_id": h.doc_id, "chunk_id": h.chunk_id, "score": round(float(h.score), 6)} for h in hits]}
        yield Outcome(output, ms, case["query"], "")


def run_answer(svc, cases, prompt) -> Iterator[Outcome]:
    from rag.answer import sources_for_prompt

    for case in cases:
        answer, ms = _timed(lambda: svc.ask(case["question"]))
        output = {**answer.to_dict(), "sources": [h.doc_id for h in answer.sources], "notes": list(answer.notes),
                  **({"prompt": answer.prompt} if answer.prompt else {})}
        sent = _render(prompt, case["question"], question=case["question"],
                       sources=sources_for_prompt(answer.sources), canary=CANARY)
        yield Outcome(output, ms, sent, answer.answer)


def run_triage(svc, cases, prompt) -> Iterator[Outcome]:
    eng = engine(svc, "triage")
    for case in cases:
        results, ms = _timed(lambda: eng.classify_many([case["text"]]))
        output = _as_dict(results[0])
        yield Outcome(output, ms, _render(prompt, case["text"], complaint=case["text"]),
                      json.dumps(output, ensure_ascii=False))


def run_draft(svc, cases, prompt) -> Iterator[Outcome]:
    eng = engine(svc, "draft")
    for case in cases:
        complaint = case.get("complaint") or case.get("text") or ""
        draft, ms = _timed(lambda: eng.draft(complaint, case["label"]))
        output = {**_as_dict(draft), "text": draft.text, "checks": list(draft.checks)}
        yield Outcome(output, ms, _render(prompt, complaint, complaint=complaint, label=case["label"]), draft.text)


def run_leads(svc, cases, prompt) -> Iterator[Outcome]:
    """Entities per case, then one grouping of all the cases; each case learns its predicted mates."""
    eng = engine(svc, "leads")
    found: list[tuple[list[dict[str, Any]], float]] = []
    for case in cases:
        ents, ms = _timed(lambda: eng.entities(case["text"]))
        found.append(([_as_dict(e) for e in ents], ms))
    grouped, group_ms = _timed(lambda: eng.groups([{"id": c["id"], "text": c["text"]} for c in cases]))
    mates: dict[str, set[str]] = {}
    for g in grouped["groups"]:
        for m in g["members"]:
            mates.setdefault(m, set()).update(x for x in g["members"] if x != m)
    share = group_ms / len(cases)
    for case, (ents, ms) in zip(cases, found):
        output = {"entities": ents, "mates": sorted(mates.get(case["id"], ()))}
        yield Outcome(output, ms + share, case["text"], json.dumps(output, ensure_ascii=False))


ADAPTERS: dict[str, Callable[..., Iterator[Outcome]]] = {
    "retrieval": run_retrieval, "answer": run_answer, "triage": run_triage, "draft": run_draft, "leads": run_leads}


def warm_up(svc, task: str, cases: list[dict[str, Any]], backend: str) -> None:
    """Load the model, indexes and engine before the clock runs: latency is per case, not start-up.

    Fails here, before any work, when the task's engine is not installed. Offline engines also
    answer the first case once untimed (they may build a classifier on first use); a paid
    endpoint is not called twice.
    """
    if task in ENGINES:
        eng = engine(svc, task)
    if task in ("retrieval", "answer") and svc.kb.is_empty():
        raise EvalError(f"知识库 {svc.settings.store_dir} 为空：先运行 python -m ingest corpus/（或用 --store 指定知识库）")
    svc.search("预热", k=1)
    if backend != "offline" or task not in ENGINES:
        return
    first = cases[0]
    if task == "triage":
        eng.classify_many([first["text"]])
    elif task == "draft":
        eng.draft(first.get("complaint") or first.get("text") or "", first["label"])
    else:
        eng.entities(first["text"])
