"""Scorers: pure functions over eval cases, outputs and rows. No I/O, no model, no clock.

``score_case(task, case, output)`` gives one case its scores (``pass`` among them, 1.0 or 0.0);
``summarize(task, rows)`` turns the rows of one run into metrics (a flat name → float dict that
diffs and gates read) and details (confusion matrix, per-label table) that reports draw.
Every metric is a mean or a ratio over the rows, so the same rows always give the same figures.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TASKS = ("retrieval", "answer", "triage", "draft", "leads")
K_VALUES = (1, 3, 5, 10)
RETRIEVAL_PASS_K = 5  # a retrieval case passes when a relevant document is in the first five
ABSTAIN = "abstain"
LEGIT = "legit_complaint"
# Identifier types the sample cases list (amounts and dates are found but never listed).
IDENTIFIER_TYPES = ("mobile", "landline", "id_card", "bank_card", "wechat", "qq", "email", "url", "org")
# Ways an answer says that the knowledge base holds nothing to answer with.
REFUSALS = ("没有找到", "未找到", "未能找到", "没有相关依据", "无法回答", "无法根据", "没有足以回答")
# Metrics where a smaller figure is the better one (everything else: bigger is better).
LOWER_IS_BETTER = frozenset({
    "legit_fp_rate", "abstain_rate", "false_refusal_rate", "latency_p50_ms", "latency_p95_ms",
    "prompt_tokens", "completion_tokens", "cost", "must_not_violations",
})
_CITE = re.compile(r"\[S(\d+)\]")
_SPACE = re.compile(r"\s+")


@dataclass
class Summary:
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)


def lower_is_better(metric: str) -> bool:
    return metric in LOWER_IS_BETTER


def squash(text: str) -> str:
    """Text compared for phrases: whitespace removed (Chinese text wraps anywhere)."""
    return _SPACE.sub("", text or "")


def phrase_rate(text: str, phrases: Sequence[str]) -> float:
    """Fraction of ``phrases`` present in ``text``; 1.0 when there is nothing to find."""
    if not phrases:
        return 1.0
    body = squash(text)
    return sum(squash(p) in body for p in phrases) / len(phrases)


# -------------------------------------------------------------------------------- retrieval
def ranked_documents(doc_ids: Iterable[str]) -> list[str]:
    """Chunk hits → document ranking: first occurrence of each document, in order."""
    seen: dict[str, None] = {}
    for d in doc_ids:
        seen.setdefault(d, None)
    return list(seen)


def score_retrieval(case: dict[str, Any], output: dict[str, Any]) -> dict[str, float]:
    ranked = output["ranked"][:10]
    relevant = set(case["relevant"])
    first = next((i for i, d in enumerate(ranked) if d in relevant), None)
    scores = {f"hit@{k}": float(first is not None and first < k) for k in K_VALUES}
    scores["mrr"] = 1.0 / (first + 1) if first is not None else 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked) if d in relevant)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    scores["ndcg@10"] = dcg / idcg if idcg else 0.0
    scores["pass"] = scores[f"hit@{RETRIEVAL_PASS_K}"]
    return scores


# -------------------------------------------------------------------------------- answer
def says_not_found(text: str) -> bool:
    return any(marker in text for marker in REFUSALS)


def citation_validity(answer: str, citations: Sequence[dict[str, Any]], n_sources: int) -> float:
    """1.0 when every ``[S#]`` in the text names a retrieved source listed among the citations."""
    listed = {int(c["n"]) for c in citations}
    cited = {int(n) for n in _CITE.findall(answer)}
    return float(all(1 <= n <= n_sources and n in listed for n in cited))


def score_answer(case: dict[str, Any], output: dict[str, Any]) -> dict[str, float]:
    text = output["answer"]
    refused = says_not_found(text)
    cited_docs = {c["doc_id"] for c in output.get("citations", [])}
    scores = {
        "citation_validity": citation_validity(text, output.get("citations", []), len(output.get("sources", []))),
        "refused": float(refused),
    }
    if case.get("answerable", True):
        scores["must_include"] = phrase_rate(text, case.get("must_include", []))
        scores["cite_hit"] = float(bool(cited_docs & set(case.get("cite", [])))) if case.get("cite") else 1.0
        ok = scores["must_include"] == 1.0 and scores["cite_hit"] == 1.0 and not refused
    else:
        ok = refused
    scores["pass"] = float(ok and scores["citation_validity"] == 1.0)
    return scores


# -------------------------------------------------------------------------------- triage
def predicted_label(output: dict[str, Any]) -> str:
    return ABSTAIN if output.get("abstain") else str(output.get("label") or ABSTAIN)


def score_triage(case: dict[str, Any], output: dict[str, Any]) -> dict[str, float]:
    expected = case.get("label") or ABSTAIN
    predicted = predicted_label(output)
    return {"correct": float(predicted == expected), "abstained": float(predicted == ABSTAIN),
            "pass": float(predicted == expected)}


def triage_details(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Confusion matrix and per-label precision / recall / F1 from (expected, predicted) pairs."""
    labels = sorted({e for e, _ in pairs if e != ABSTAIN})
    rows = labels + ([ABSTAIN] if any(e == ABSTAIN for e, _ in pairs) else [])
    columns = labels + sorted({p for _, p in pairs if p not in labels and p != ABSTAIN}) + [ABSTAIN]
    counts = Counter(pairs)
    per_label = {}
    for label in labels:
        tp = counts[(label, label)]
        predicted = sum(n for (_e, p), n in counts.items() if p == label)
        actual = sum(n for (e, _p), n in counts.items() if e == label)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
    matrix = [[counts[(e, p)] for p in columns] for e in rows]
    return {"labels": labels, "confusion": {"rows": rows, "columns": columns, "matrix": matrix},
            "per_label": per_label}


def triage_metrics(pairs: Sequence[tuple[str, str]], details: dict[str, Any]) -> dict[str, float]:
    n = len(pairs)
    legit = [p for e, p in pairs if e == LEGIT]
    metrics = {
        "accuracy": sum(e == p for e, p in pairs) / n if n else 0.0,
        "macro_f1": float(np.mean([v["f1"] for v in details["per_label"].values()])) if details["per_label"] else 0.0,
        "abstain_rate": sum(p == ABSTAIN for _e, p in pairs) / n if n else 0.0,
        # A genuine complaint called black-industry harms a consumer: counted on its own.
        "legit_fp_rate": sum(p not in (LEGIT, ABSTAIN) for p in legit) / len(legit) if legit else 0.0,
    }
    for label, v in details["per_label"].items():
        metrics[f"f1.{label}"] = v["f1"]
        metrics[f"precision.{label}"] = v["precision"]
        metrics[f"recall.{label}"] = v["recall"]
    return metrics


# -------------------------------------------------------------------------------- draft
def score_draft(case: dict[str, Any], output: dict[str, Any]) -> dict[str, float]:
    """Rules the drafter checked, the facts the reply must carry, and the rules named in the case's
    ``must_not`` (rule ids such as ``admit_fault``) that must have been checked and passed."""
    checks = output.get("checks", [])
    rules = sum(bool(c["passed"]) for c in checks) / len(checks) if checks else 1.0
    must = phrase_rate(output["text"], case.get("must_include", []))
    passed = {c["rule"] for c in checks if c["passed"]}
    broken = sum(rule not in passed for rule in case.get("must_not", []))
    return {"rules_passed": rules, "all_rules_passed": float(rules == 1.0), "must_include": must,
            "must_not_violations": float(broken), "pass": float(rules == 1.0 and must == 1.0 and not broken)}


# -------------------------------------------------------------------------------- leads
def identifier_key(entity: dict[str, Any]) -> tuple[str, str]:
    """(type, normalized value). A listed identifier written as in the text ("+86 139-0011-2233")
    is normalized the way the product's extractor normalizes what it finds ("13900112233")."""
    value = entity.get("normalized")
    if not value:
        from rag.entities import extract

        found = extract(str(entity.get("value") or ""), [entity["type"]])
        value = found[0].normalized if len(found) == 1 else entity.get("value") or ""
    return str(entity["type"]), squash(str(value)).lower()


def score_leads(case: dict[str, Any], output: dict[str, Any]) -> dict[str, float]:
    """Identifiers found vs listed (types the cases list), and whether the case sits with its gang."""
    found = {identifier_key(e) for e in output.get("entities", []) if e["type"] in IDENTIFIER_TYPES}
    listed = {identifier_key(e) for e in case.get("identifiers", []) if e["type"] in IDENTIFIER_TYPES}  # amounts, dates: facts, not links
    tp = len(found & listed)
    mates = set(output.get("mates", []))
    expected_mates = set(case.get("gang_members", [])) - {case["id"]}
    scores = {
        "entity_tp": float(tp), "entity_fp": float(len(found - listed)), "entity_fn": float(len(listed - found)),
        "entity_precision": tp / len(found) if found else 1.0,
        "entity_recall": tp / len(listed) if listed else 1.0,
        "group_ok": float(mates == expected_mates),
    }
    scores["pass"] = float(scores["entity_precision"] == 1.0 and scores["entity_recall"] == 1.0 and scores["group_ok"])
    return scores


def pair_agreement(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Pairwise precision / recall / F1 of "these two cases belong together", predicted vs the gangs."""
    predicted = {frozenset((r["id"], m)) for r in rows for m in r["output"].get("mates", []) if m != r["id"]}
    expected = {frozenset((r["id"], m)) for r in rows for m in r["case"].get("gang_members", []) if m != r["id"]}
    tp = len(predicted & expected)
    precision = tp / len(predicted) if predicted else (1.0 if not expected else 0.0)
    recall = tp / len(expected) if expected else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"group_pair_precision": precision, "group_pair_recall": recall, "group_agreement": f1}


def leads_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    tp, fp, fn = (sum(r["scores"][f"entity_{x}"] for r in rows) for x in ("tp", "fp", "fn"))
    return {"identifier_precision": tp / (tp + fp) if tp + fp else 1.0,
            "identifier_recall": tp / (tp + fn) if tp + fn else 1.0,
            **pair_agreement(rows)}


# -------------------------------------------------------------------------------- runs
SCORERS = {"retrieval": score_retrieval, "answer": score_answer, "triage": score_triage,
           "draft": score_draft, "leads": score_leads}


def score_case(task: str, case: dict[str, Any], output: dict[str, Any]) -> dict[str, float]:
    if task not in SCORERS:
        raise ValueError(f"未知的评测任务 {task!r}（可选：{', '.join(TASKS)}）")
    return SCORERS[task](case, output)


def _mean(rows: Sequence[dict[str, Any]], key: str) -> float:
    values = [r["scores"][key] for r in rows if key in r["scores"]]
    return float(np.mean(values)) if values else 0.0


def latency_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    latency = [float(r.get("latency_ms", 0.0)) for r in rows]
    return {"latency_p50_ms": float(np.percentile(latency, 50)) if latency else 0.0,
            "latency_p95_ms": float(np.percentile(latency, 95)) if latency else 0.0}


def quality_metrics(task: str, rows: Sequence[dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    """The task's own metrics (no latency or cost) and report details, for one repetition."""
    metrics: dict[str, float] = {
        "n": float(len(rows)), "pass_rate": _mean(rows, "pass"),
        "prompt_tokens": float(sum(r.get("prompt_tokens", 0) for r in rows)),
        "completion_tokens": float(sum(r.get("completion_tokens", 0) for r in rows)),
        "cost": float(sum(r.get("cost", 0.0) for r in rows)),
    }
    details: dict[str, Any] = {}
    if task == "retrieval":
        metrics |= {f"hit@{k}": _mean(rows, f"hit@{k}") for k in K_VALUES}
        metrics |= {"mrr": _mean(rows, "mrr"), "ndcg@10": _mean(rows, "ndcg@10")}
    elif task == "answer":
        answerable = [r for r in rows if r["case"].get("answerable", True)]
        unanswerable = [r for r in rows if not r["case"].get("answerable", True)]
        metrics |= {
            "citation_validity": _mean(rows, "citation_validity"),
            "must_include_rate": _mean(answerable, "must_include"),
            "cite_hit_rate": _mean(answerable, "cite_hit"),
            "unanswerable_handled_rate": _mean(unanswerable, "refused") if unanswerable else 1.0,
            "false_refusal_rate": _mean(answerable, "refused"),
        }
    elif task == "triage":
        pairs = [(r["case"].get("label") or ABSTAIN, predicted_label(r["output"])) for r in rows]
        details = triage_details(pairs)
        metrics |= triage_metrics(pairs, details)
        hard = [r for r in rows if r["case"].get("hard")]
        if hard:  # traps: genuine complaints that sound risky, scams that avoid the obvious words
            metrics["accuracy_hard"] = _mean(hard, "correct")
    elif task == "draft":
        metrics |= {"rules_passed_rate": _mean(rows, "rules_passed"), "all_rules_passed_rate": _mean(rows, "all_rules_passed"),
                    "must_include_rate": _mean(rows, "must_include"),
                    "must_not_violations": float(sum(r["scores"]["must_not_violations"] for r in rows))}
    elif task == "leads":
        metrics |= leads_metrics(rows)
    return metrics, details


def summarize(task: str, rows: Sequence[dict[str, Any]]) -> Summary:
    """Metrics of a run: the mean over repetitions (tokens and cost: per pass over the set),
    the spread of each metric when repeated; details pool every repetition."""
    by_repeat: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_repeat.setdefault(int(r.get("repeat", 0)), []).append(r)
    per_repeat = [quality_metrics(task, rs)[0] for _, rs in sorted(by_repeat.items())] or [quality_metrics(task, [])[0]]
    names = list(per_repeat[0])
    metrics = {m: float(np.mean([p.get(m, 0.0) for p in per_repeat])) for m in names} | latency_metrics(rows)
    details = quality_metrics(task, rows)[1] | {"repeats": len(per_repeat)}
    if len(per_repeat) > 1:
        details["spread"] = {m: {"mean": metrics[m], "std": float(np.std([p.get(m, 0.0) for p in per_repeat])),
                                 "min": min(p.get(m, 0.0) for p in per_repeat),
                                 "max": max(p.get(m, 0.0) for p in per_repeat)} for m in names}
    return Summary(metrics, details)


def case_passes(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Per case id, the fraction of repetitions in which it passed."""
    seen: dict[str, list[float]] = {}
    for r in rows:
        seen.setdefault(r["id"], []).append(float(r["scores"]["pass"]))
    return {cid: sum(v) / len(v) for cid, v in seen.items()}
