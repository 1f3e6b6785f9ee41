"""Compare two runs of one task: each metric with baseline, current and delta; the cases that
flipped between pass and fail, outputs side by side; and the gates of ``evals/gates.yaml``.

Gates, per task and metric: ``min`` / ``max`` bound the current figure; ``max_drop`` is the most a
bigger-is-better metric may fall below the baseline, ``max_rise`` the most a smaller-is-better one
may rise; per task, ``max_new_failures`` is how many cases may flip from pass to fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evals.runner import ROOT, EvalError, Run
from evals.scorers import case_passes, lower_is_better, summarize

GATES_FILE = ROOT / "evals" / "gates.yaml"
RULES = ("min", "max", "max_drop", "max_rise")
EPS = 1e-9


@dataclass
class Breach:
    metric: str
    rule: str
    limit: float
    value: float

    def __str__(self) -> str:
        what = {"min": "低于下限", "max": "高于上限", "max_drop": "较基线下降超过", "max_rise": "较基线上升超过",
                "max_new_failures": "由通过变为失败的用例数超过"}[self.rule]
        return f"{self.metric} = {self.value:.4g}：{what} {self.limit:g}"


@dataclass
class Flip:
    id: str
    baseline: dict[str, Any]  # the baseline row (its first repetition)
    current: dict[str, Any]


@dataclass
class Diff:
    task: str
    baseline: dict[str, float]
    current: dict[str, float]
    to_fail: list[Flip] = field(default_factory=list)
    to_pass: list[Flip] = field(default_factory=list)
    changed: int = 0  # outputs differ, pass/fail the same
    only_baseline: list[str] = field(default_factory=list)
    only_current: list[str] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.breaches)

    def table(self) -> list[tuple[str, float | None, float | None, float | None]]:
        names = list(self.current) + [m for m in self.baseline if m not in self.current]
        out = []
        for m in names:
            b, c = self.baseline.get(m), self.current.get(m)
            out.append((m, b, c, None if b is None or c is None else c - b))
        return out


# ------------------------------------------------------------------------------------ gates
def load_gates(path: Path = GATES_FILE) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        raise EvalError(f"找不到门槛文件 {path}")
    try:
        gates = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise EvalError(f"门槛文件 {path} 不是合法 YAML：{exc}") from None
    for task, rules in gates.items():
        for metric, rule in (rules or {}).items():
            if metric == "max_new_failures":
                if not isinstance(rule, int) or rule < 0:
                    raise EvalError(f"门槛文件 {path}：{task}.max_new_failures 应为非负整数，收到 {rule!r}")
                continue
            if not isinstance(rule, dict) or set(rule) - set(RULES):
                raise EvalError(f"门槛文件 {path}：{task}.{metric} 应为 {{{', '.join(RULES)}}} 中的若干项，收到 {rule!r}")
    return gates


def check_gates(task: str, baseline: dict[str, float], current: dict[str, float], new_failures: int,
                gates: dict[str, dict[str, Any]], gates_path: Path = GATES_FILE) -> list[Breach]:
    breaches: list[Breach] = []
    for metric, rule in (gates.get(task) or {}).items():
        if metric == "max_new_failures":
            if new_failures > rule:
                breaches.append(Breach("pass→fail", "max_new_failures", rule, new_failures))
            continue
        if metric not in current:
            raise EvalError(f"门槛文件 {gates_path}：{task}.{metric} 不是本次评测的指标（有：{', '.join(current)}）")
        value = current[metric]
        if "min" in rule and value < rule["min"] - EPS:
            breaches.append(Breach(metric, "min", rule["min"], value))
        if "max" in rule and value > rule["max"] + EPS:
            breaches.append(Breach(metric, "max", rule["max"], value))
        base = baseline.get(metric)
        if base is None:
            continue
        worse = (value - base) if lower_is_better(metric) else (base - value)
        for key in ("max_drop", "max_rise"):
            if key in rule and worse > rule[key] + EPS:
                breaches.append(Breach(metric, key, rule[key], value))
    return breaches


# ------------------------------------------------------------------------------------ diff
def compare(baseline: Run, current: Run, gates: dict[str, dict[str, Any]] | None = None,
            gates_path: Path = GATES_FILE) -> Diff:
    if baseline.task != current.task:
        raise EvalError(f"不能比较不同任务的评测结果：基线是 {baseline.task}，本次是 {current.task}")
    task = current.task
    diff = Diff(task, summarize(task, baseline.rows).metrics, summarize(task, current.rows).metrics)
    diff.warnings = comparability(baseline.meta, current.meta)
    before, after = case_passes(baseline.rows), case_passes(current.rows)
    first_b = {r["id"]: r for r in reversed(baseline.rows)}
    first_c = {r["id"]: r for r in reversed(current.rows)}
    for cid in after:
        if cid not in before:
            diff.only_current.append(cid)
            continue
        was, now = before[cid] >= 0.5, after[cid] >= 0.5
        if was and not now:
            diff.to_fail.append(Flip(cid, first_b[cid], first_c[cid]))
        elif now and not was:
            diff.to_pass.append(Flip(cid, first_b[cid], first_c[cid]))
        elif first_b[cid]["output"] != first_c[cid]["output"]:
            diff.changed += 1
    diff.only_baseline = [cid for cid in before if cid not in after]
    if diff.only_baseline or diff.only_current:
        diff.warnings.append(f"用例集合不同：仅基线有 {len(diff.only_baseline)} 条，仅本次有 {len(diff.only_current)} 条")
    diff.breaches = check_gates(task, diff.baseline, diff.current, len(diff.to_fail),
                                load_gates(gates_path) if gates is None else gates, gates_path)
    return diff


def comparability(b: dict[str, Any], c: dict[str, Any]) -> list[str]:
    """What differs between the two runs besides the change under test."""
    notes = []
    if b.get("dataset_sha256") != c.get("dataset_sha256"):
        notes.append(f"评测集不同（基线 {b.get('set')}，本次 {c.get('set')}，sha256 不一致）")
    if (b.get("store") or {}).get("sha256") != (c.get("store") or {}).get("sha256"):
        notes.append("知识库内容不同（文档指纹不一致）：差异可能来自知识库而非本次改动")
    for key in ("backend", "model"):
        if b.get(key) != c.get(key):
            notes.append(f"{key} 不同：{b.get(key)} → {c.get(key)}")
    if b.get("settings") != c.get("settings"):
        changed = sorted(k for k in {**b.get("settings", {}), **c.get("settings", {})}
                         if b.get("settings", {}).get(k) != c.get("settings", {}).get(k))
        notes.append(f"设置不同：{', '.join(changed)}")
    return notes


# ------------------------------------------------------------------------------------ views
def brief(task: str, row: dict[str, Any], width: int = 90) -> str:
    """One line that says what the engine produced for this case."""
    out = row["output"]
    if task == "retrieval":
        text = "前5：" + ", ".join(out["ranked"][:5])
    elif task == "answer":
        text = out["answer"].replace("\n", " ")
    elif task == "triage":
        label = "abstain" if out.get("abstain") else out.get("label")
        text = f"{label}（置信度 {float(out.get('confidence') or 0):.2f}）"
    elif task == "draft":
        failed = [c["rule"] for c in out.get("checks", []) if not c["passed"]]
        text = (f"未通过规则：{', '.join(failed)}；" if failed else "") + out["text"].replace("\n", " ")
    else:
        ids = ", ".join(f"{e['type']}:{e.get('normalized') or e['value']}" for e in out.get("entities", []))
        text = f"同伙 {', '.join(out.get('mates', [])) or '无'}；标识 {ids}"
    return text if len(text) <= width else text[: width - 1] + "…"


def expected(task: str, case: dict[str, Any]) -> str:
    if task == "retrieval":
        return "相关：" + ", ".join(case["relevant"])
    if task == "answer":
        return ("应含：" + "、".join(case.get("must_include", []))) if case.get("answerable", True) else "应答：知识库无依据"
    if task == "triage":
        return f"应为 {case.get('label') or 'abstain'}"
    if task == "draft":
        rules = f"；不得违反：{'、'.join(case['must_not'])}" if case.get("must_not") else ""
        return "应含：" + "、".join(case.get("must_include", [])) + rules
    return f"同伙 {', '.join(m for m in case.get('gang_members', []) if m != case['id']) or '无'}"


def fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if float(x).is_integer() or abs(x) >= 1000:
        return f"{x:.0f}"
    return f"{x:.1f}" if abs(x) >= 100 else f"{x:.4f}"


def fmt_delta(x: float | None) -> str:
    if x is None:
        return ""
    return ("+" if x >= 0 else "-") + fmt(abs(x))


def render_text(d: Diff, show: int = 50) -> str:
    lines = [f"任务 {d.task}：基线 vs 本次", ""]
    rows = [("metric", "baseline", "current", "delta")] + [
        (m, fmt(b), fmt(c), fmt_delta(delta)) for m, b, c, delta in d.table()]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    for title, flips in (("由通过变为失败（pass→fail）", d.to_fail), ("由失败变为通过（fail→pass）", d.to_pass)):
        lines += ["", f"{title}：{len(flips)} 条"]
        for f in flips[:show]:
            lines += [f"- {f.id}  {expected(d.task, f.current['case'])}",
                      f"    基线：{brief(d.task, f.baseline)}", f"    本次：{brief(d.task, f.current)}"]
        if len(flips) > show:
            lines.append(f"  … 另有 {len(flips) - show} 条")
    if d.changed:
        lines += ["", f"另有 {d.changed} 条用例输出有变化，但通过与否未变。"]
    for w in d.warnings:
        lines.append(f"注意：{w}")
    lines.append("")
    if d.breaches:
        lines += ["门槛未通过："] + [f"  ✗ {b}" for b in d.breaches]
    else:
        lines.append("门槛全部通过。")
    return "\n".join(lines)
