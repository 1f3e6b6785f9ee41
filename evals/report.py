"""Reports of a run: one self-contained HTML file (inline CSS and SVG charts: no script, no CDN, no
external asset, so it opens offline and can be mailed) and a Markdown summary to paste into a review.

Charts: the key metrics against the baseline, confusion matrix and per-label F1 (triage),
latency distribution, tokens per case and cost. With ``--repeat``, the spread of every metric.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from evals.diff import Diff, brief, expected, fmt, fmt_delta
from evals.runner import Run
from evals.scorers import Summary, lower_is_better, summarize

BLUE, GREY, RED, GREEN = "#2f6fb0", "#b8c2cc", "#c0392b", "#2e8b57"
HEADLINE = {
    "retrieval": ["hit@1", "hit@3", "hit@5", "hit@10", "mrr", "ndcg@10"],
    "answer": ["citation_validity", "must_include_rate", "cite_hit_rate", "unanswerable_handled_rate", "false_refusal_rate"],
    "triage": ["accuracy", "macro_f1", "legit_fp_rate", "abstain_rate"],
    "draft": ["rules_passed_rate", "all_rules_passed_rate", "must_include_rate"],
    "leads": ["identifier_precision", "identifier_recall", "group_pair_precision", "group_pair_recall", "group_agreement"],
}
CSS = """
body{font-family:-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f6f8}.num{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#c0392b;font-weight:600}.good{color:#2e8b57}
.meta{color:#555;font-size:13px}.flip td{max-width:420px;white-space:pre-wrap}.chart{display:block;margin:14px 0}
.gate-ok{background:#eef8ee;border:1px solid #9fd19f;padding:6px 10px}.gate-bad{background:#fdecea;border:1px solid #f5a9a0;padding:6px 10px}
"""


def esc(x: object) -> str:
    return html.escape(str(x), quote=True)


# ------------------------------------------------------------------------------------ SVG
def svg_bars(items: Sequence[tuple[str, float]], title: str, baseline: dict[str, float] | None = None,
             vmax: float | None = None, unit: str = "") -> str:
    """Horizontal bars, one per item; a grey bar under each shows the baseline when given."""
    if not items:
        return ""
    vmax = vmax or max([v for _, v in items] + list((baseline or {}).values()) + [1e-9])
    row, left, width = (30 if baseline else 22), 190, 420
    h = 30 + row * len(items)
    parts = [f'<svg class="chart" width="{left + width + 90}" height="{h}" role="img">',
             f'<title>{esc(title)}</title><text x="0" y="16" font-size="13" font-weight="600">{esc(title)}</text>']
    for i, (name, value) in enumerate(items):
        y = 26 + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 13}" font-size="12" text-anchor="end">{esc(name)}</text>')
        if baseline and name in baseline:
            bw = width * max(0.0, baseline[name]) / vmax
            parts.append(f'<rect x="{left}" y="{y + 14}" width="{bw:.1f}" height="8" fill="{GREY}"/>')
        w = width * max(0.0, value) / vmax
        parts.append(f'<rect x="{left}" y="{y}" width="{max(w, 1):.1f}" height="{13 if baseline else 16}" fill="{BLUE}"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 12}" font-size="11">{esc(fmt(value))}{esc(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def svg_histogram(values: Sequence[float], title: str, unit: str, bins: int = 20, color: str = BLUE) -> str:
    if not values:
        return ""
    lo, hi = float(min(values)), float(max(values))
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi if hi > lo else lo + 1))
    width, height, left, top = 560, 160, 40, 24
    peak = max(int(counts.max()), 1)
    bw = width / bins
    parts = [f'<svg class="chart" width="{left + width + 20}" height="{top + height + 34}" role="img">',
             f'<title>{esc(title)}</title><text x="0" y="16" font-size="13" font-weight="600">{esc(title)}</text>',
             f'<line x1="{left}" y1="{top + height}" x2="{left + width}" y2="{top + height}" stroke="#888"/>']
    for i, c in enumerate(counts):
        bh = height * int(c) / peak
        parts.append(f'<rect x="{left + i * bw + 1:.1f}" y="{top + height - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" '
                     f'fill="{color}"><title>{edges[i]:.1f}–{edges[i + 1]:.1f}{esc(unit)}：{int(c)}</title></rect>')
    parts += [f'<text x="{left}" y="{top + height + 16}" font-size="11">{lo:.1f}{esc(unit)}</text>',
              f'<text x="{left + width}" y="{top + height + 16}" font-size="11" text-anchor="end">{hi:.1f}{esc(unit)}</text>',
              f'<text x="{left - 4}" y="{top + 10}" font-size="11" text-anchor="end">{peak}</text></svg>']
    return "".join(parts)


def svg_heatmap(rows: Sequence[str], cols: Sequence[str], matrix: Sequence[Sequence[int]], title: str) -> str:
    cell, left, top = 44, 130, 120
    peak = max([max(r) for r in matrix if r] + [1])
    parts = [f'<svg class="chart" width="{left + cell * len(cols) + 20}" '
             f'height="{top + cell * len(rows) + 10}" role="img"><title>{esc(title)}</title>',
             f'<text x="0" y="16" font-size="13" font-weight="600">{esc(title)}（行：应为，列：预测）</text>']
    for j, c in enumerate(cols):
        x = left + j * cell + cell / 2
        parts.append(f'<text x="{x}" y="{top - 6}" font-size="11" transform="rotate(-45 {x} {top - 6})">{esc(c)}</text>')
    for i, r in enumerate(rows):
        y = top + i * cell
        parts.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4}" font-size="11" text-anchor="end">{esc(r)}</text>')
        for j, n in enumerate(matrix[i]):
            share = n / peak
            on_diag = j < len(rows) and cols[j] == r
            rgb = (47, 111, 176) if on_diag else (192, 57, 43)
            fill = "#ffffff" if not n else "#%02x%02x%02x" % tuple(int(255 - (255 - c) * (0.15 + 0.85 * share)) for c in rgb)
            parts.append(f'<rect x="{left + j * cell}" y="{y}" width="{cell - 2}" height="{cell - 2}" fill="{fill}" stroke="#ddd"/>')
            if n:
                color = "#fff" if share > 0.5 else "#222"
                parts.append(f'<text x="{left + j * cell + cell / 2 - 1}" y="{y + cell / 2 + 4}" font-size="12" '
                             f'text-anchor="middle" fill="{color}">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------------ HTML
def metrics_table(current: dict[str, float], baseline: dict[str, float] | None, d: Diff | None) -> str:
    breached = {b.metric for b in (d.breaches if d else [])}
    head = "<tr><th>指标</th>" + ("<th>基线</th>" if baseline else "") + "<th>本次</th>" + ("<th>变化</th>" if baseline else "") + "</tr>"
    body = []
    for m, c in current.items():
        cells = [f"<td>{esc(m)}</td>"]
        if baseline is not None:
            b = baseline.get(m)
            cells.append(f'<td class="num">{esc(fmt(b))}</td>')
        cells.append(f'<td class="num{" bad" if m in breached else ""}">{esc(fmt(c))}</td>')
        if baseline is not None:
            b = baseline.get(m)
            delta = None if b is None else c - b
            better = delta is not None and (delta < 0 if lower_is_better(m) else delta > 0)
            cls = "" if not delta or abs(delta) < 1e-12 else ("good" if better else "bad")
            cells.append(f'<td class="num {cls}">{fmt_delta(delta)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def spread_table(spread: dict[str, dict[str, float]]) -> str:
    rows = "".join(f'<tr><td>{esc(m)}</td><td class="num">{fmt(s["mean"])}</td><td class="num">{s["std"]:.4f}</td>'
                   f'<td class="num">{fmt(s["min"])}</td><td class="num">{fmt(s["max"])}</td></tr>' for m, s in spread.items())
    return f"<table><tr><th>指标</th><th>均值</th><th>标准差</th><th>最小</th><th>最大</th></tr>{rows}</table>"


def flips_table(task: str, flips, title: str) -> str:
    if not flips:
        return f"<h3>{esc(title)}：0 条</h3>"
    rows = "".join(f'<tr class="flip"><td>{esc(f.id)}</td><td>{esc(expected(task, f.current["case"]))}</td>'
                   f'<td>{esc(brief(task, f.baseline, 400))}</td><td>{esc(brief(task, f.current, 400))}</td></tr>' for f in flips)
    return (f"<h3>{esc(title)}：{len(flips)} 条</h3><table><tr><th>用例</th><th>期望</th><th>基线输出</th><th>本次输出</th></tr>"
            f"{rows}</table>")


def failures_table(task: str, rows: Sequence[dict[str, Any]], limit: int = 30) -> str:
    failed = [r for r in rows if not r["scores"]["pass"] and r.get("repeat", 0) == 0]
    if not failed:
        return "<p>所有用例均通过。</p>"
    body = "".join(f'<tr class="flip"><td>{esc(r["id"])}</td><td>{esc(expected(task, r["case"]))}</td>'
                   f'<td>{esc(brief(task, r, 400))}</td></tr>' for r in failed[:limit])
    more = f"<p>… 另有 {len(failed) - limit} 条</p>" if len(failed) > limit else ""
    return f"<table><tr><th>用例</th><th>期望</th><th>输出</th></tr>{body}</table>{more}"


def charts(run: Run, summary: Summary, baseline: Summary | None) -> list[str]:
    task, m = run.task, summary.metrics
    out = [svg_bars([(k, m[k]) for k in HEADLINE[task] if k in m], "主要指标（蓝：本次，灰：基线）" if baseline else "主要指标",
                    baseline.metrics if baseline else None, vmax=1.0)]
    if task == "triage" and summary.details.get("confusion"):
        c = summary.details["confusion"]
        out.append(svg_heatmap(c["rows"], c["columns"], c["matrix"], "混淆矩阵"))
        per_label = summary.details["per_label"]
        out.append(svg_bars([(k, v["f1"]) for k, v in per_label.items()], "各标签 F1（蓝：本次，灰：基线）" if baseline else "各标签 F1",
                            {k: v["f1"] for k, v in baseline.details.get("per_label", {}).items()} if baseline else None, vmax=1.0))
    latency = [float(r.get("latency_ms", 0.0)) for r in run.rows]
    out.append(svg_histogram(latency, f"延迟分布（p50 {m['latency_p50_ms']:.1f} ms，p95 {m['latency_p95_ms']:.1f} ms）", " ms"))
    tokens = [float(r.get("prompt_tokens", 0) + r.get("completion_tokens", 0)) for r in run.rows]
    if any(tokens):
        out.append(svg_histogram(tokens, "每条用例的 token 数（提示 + 输出）", "", color=GREEN))
    items = [("提示 token", m["prompt_tokens"]), ("输出 token", m["completion_tokens"])]
    out.append(svg_bars(items, "token 总量（每轮）", {"提示 token": baseline.metrics["prompt_tokens"],
                                                   "输出 token": baseline.metrics["completion_tokens"]} if baseline else None))
    return out


def render_html(run: Run, baseline: Run | None = None, d: Diff | None = None) -> str:
    summary = summarize(run.task, run.rows)
    base = summarize(baseline.task, baseline.rows) if baseline else None
    meta = run.meta
    prompt = meta.get("prompt") or {}
    facts = [("任务", meta["task"]), ("评测集", f"{meta['set']}（{meta['cases']} 条，sha256 {meta['dataset_sha256'][:12]}）"),
             ("提示词", f"{prompt.get('ref')}（sha256 {prompt.get('sha256', '')[:12]}）" if prompt else "无"),
             ("后端 / 模型", f"{meta['backend']} / {meta['model']}"), ("提交", meta["commit"][:12]),
             ("知识库", f"{meta['store']['documents']} 篇文档，{meta['store']['chunks']} 个片段"),
             ("重复次数", meta["repeat"]), ("开始", meta["started"]),
             ("估算费用", f"{summary.metrics['cost']:.4f}（单价/1k：{meta['price_per_1k'][0]:g} / {meta['price_per_1k'][1]:g}）")]
    parts = [f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>评测报告 · {esc(meta['task'])}</title>"
             f"<style>{CSS}</style></head><body><h1>评测报告 · {esc(meta['task'])}</h1>",
             "<table class=\"meta\">" + "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in facts) + "</table>"]
    if baseline is not None:
        bp = baseline.meta.get("prompt") or {}
        parts.append(f"<p class=\"meta\">基线：{esc(bp.get('ref', '无提示词'))}，{esc(baseline.meta['backend'])}，"
                     f"提交 {esc(baseline.meta['commit'][:12])}，{esc(baseline.meta['started'])}</p>")
    if d is not None:
        if d.breaches:
            parts.append('<div class="gate-bad">门槛未通过：' + "；".join(esc(b) for b in d.breaches) + "</div>")
        else:
            parts.append('<div class="gate-ok">门槛全部通过。</div>')
        parts += [f'<p class="meta">注意：{esc(w)}</p>' for w in d.warnings]
    parts += ["<h2>图表</h2>", *charts(run, summary, base), "<h2>指标</h2>",
              metrics_table(summary.metrics, base.metrics if base else None, d)]
    if "spread" in summary.details:
        parts += [f"<h2>重复 {summary.details['repeats']} 次的波动</h2>", spread_table(summary.details["spread"])]
    if d is not None:
        parts += ["<h2>变化的用例</h2>", flips_table(run.task, d.to_fail, "由通过变为失败"),
                  flips_table(run.task, d.to_pass, "由失败变为通过")]
        if d.changed:
            parts.append(f"<p>另有 {d.changed} 条用例输出有变化，但通过与否未变。</p>")
    parts += ["<h2>未通过的用例</h2>", failures_table(run.task, run.rows), "</body></html>"]
    return "\n".join(parts)


# ------------------------------------------------------------------------------------ Markdown
def render_markdown(run: Run, baseline: Run | None = None, d: Diff | None = None, show: int = 20) -> str:
    summary = summarize(run.task, run.rows)
    base = summarize(baseline.task, baseline.rows).metrics if baseline else None
    meta, prompt = run.meta, run.meta.get("prompt") or {}
    lines = [f"### 评测 {meta['task']}：{prompt.get('ref', '无提示词')} · {meta['backend']}/{meta['model']} · "
             f"{meta['set']}（{meta['cases']} 条）· 提交 {meta['commit'][:10]}", ""]
    if d is not None:
        lines += ["**门槛未通过**：" + "；".join(str(b) for b in d.breaches) if d.breaches else "**门槛全部通过**", ""]
    spread = summary.details.get("spread", {})
    if base is not None:
        lines += ["| 指标 | 基线 | 本次 | 变化 |", "|---|---:|---:|---:|"]
        for m, c in summary.metrics.items():
            b = base.get(m)
            delta = "" if b is None else fmt_delta(c - b)
            lines.append(f"| {m} | {fmt(b)} | {fmt(c)}{_pm(spread, m)} | {delta} |")
    else:
        lines += ["| 指标 | 本次 |", "|---|---:|"] + [f"| {m} | {fmt(c)}{_pm(spread, m)} |" for m, c in summary.metrics.items()]
    if d is not None:
        for title, flips in (("pass→fail", d.to_fail), ("fail→pass", d.to_pass)):
            lines += ["", f"**{title}：{len(flips)} 条**"]
            lines += [f"- `{f.id}` {expected(run.task, f.current['case'])}：{brief(run.task, f.baseline, 60)} → "
                      f"{brief(run.task, f.current, 60)}" for f in flips[:show]]
        lines += [f"> 注意：{w}" for w in d.warnings]
    return "\n".join(lines) + "\n"


def _pm(spread: dict[str, dict[str, float]], metric: str) -> str:
    s = spread.get(metric)
    return f" ± {s['std']:.4f}" if s and not math.isclose(s["std"], 0.0, abs_tol=1e-12) else ""
