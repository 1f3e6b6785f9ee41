"""Reports: one self-contained HTML file with SVG charts (checked as text, then rendered in headless
Chromium), and a Markdown summary for reviews. Runs are built from recorded outputs."""

import os
import re
import subprocess

import pytest

from evals.diff import compare
from evals.report import render_html, render_markdown
from evals.runner import Run
from evals.scorers import score_case

LABELS = ["proxy_rights", "debt_evasion", "credit_repair", "legit_complaint"]
CHROMIUM = os.environ.get("XS_CHROMIUM", "/usr/bin/chromium")


def make_run(task, pairs, repeat=1, version=1):
    """A run from (case, output) pairs, as the runner would write it."""
    rows = []
    for rep in range(repeat):
        for i, (case, output) in enumerate(pairs):
            rows.append({"type": "case", "id": case["id"], "repeat": rep, "case": case, "output": output,
                         "scores": score_case(task, case, output), "latency_ms": 5.0 + 3 * i + rep,
                         "prompt_tokens": 100 + i, "completion_tokens": 20, "cost": 0.001, "prompt_sha256": "ab" * 32})
    meta = {"type": "meta", "schema": 1, "task": task, "set": f"evals/sets/{task}.jsonl", "dataset_sha256": "d" * 64,
            "cases": len(pairs), "prompt": {"id": task, "version": version, "sha256": "ab" * 32, "ref": f"{task}@v{version}"},
            "backend": "offline", "model": "offline", "commit": "c" * 40,
            "store": {"documents": 3, "chunks": 5, "sha256": "s" * 64}, "settings": {"top_k": 6},
            "price_per_1k": [0.0, 0.0], "repeat": repeat, "started": "2026-01-01T00:00:00+00:00", "duration_s": 1.0}
    return Run(meta, rows)


def triage_pairs(broken=()):
    pairs = []
    for i in range(24):
        label = LABELS[i % 4]
        out_label = "legit_complaint" if f"t{i}" in broken else label
        pairs.append(({"id": f"t{i}", "text": f"投诉{i}", "label": label},
                      {"label": out_label, "confidence": 0.9, "abstain": False, "scores": {}, "red_flags": [], "evidence": [],
                       "action": ""}))
    return pairs


@pytest.fixture
def triage_report():
    base, current = make_run("triage", triage_pairs()), make_run("triage", triage_pairs({"t0", "t5"}), version=2)
    return base, current, compare(base, current, gates={})


def test_html_report_is_one_self_contained_file_with_svg_charts(triage_report):
    base, current, d = triage_report
    page = render_html(current, base, d)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"https?://", page), "the report must not reference anything on the network"
    for external in ("<script", "<link", " src=", "url(", "@import"):
        assert external not in page, external
    assert page.count("<svg") >= 5  # headline bars, confusion matrix, per-label F1, latency, tokens
    assert "混淆矩阵" in page and "各标签 F1" in page and "延迟分布" in page and "token 总量" in page
    assert "t0" in page and "t5" in page and "由通过变为失败：2 条" in page


def test_confusion_matrix_cells_carry_the_counts(triage_report):
    _, current, _ = triage_report
    page = render_html(current)
    heat = page[page.index("混淆矩阵"):]
    heat = heat[: heat.index("</svg>")]
    counts = [int(n) for n in re.findall(r'text-anchor="middle" fill="#[0-9a-f]+">(\d+)</text>', heat)]
    assert sorted(counts) == [1, 1, 5, 5, 6, 6]  # t0 (proxy_rights) and t5 (debt_evasion) called legit_complaint


def test_document_text_is_escaped():
    case = {"id": "a1", "question": "问题", "must_include": ["5年"], "cite": ["reg-1"]}
    output = {"answer": "<script>alert(1)</script><img src=x onerror=alert(2)>", "citations": [], "sources": []}
    page = render_html(make_run("answer", [(case, output)]))
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page and "<img" not in page


def test_markdown_summary_for_a_review(triage_report):
    base, current, d = triage_report
    md = render_markdown(current, base, d)
    assert md.startswith("### 评测 triage：triage@v2")
    assert "| 指标 | 基线 | 本次 | 变化 |" in md and "| macro_f1 | 1 |" in md
    assert "**pass→fail：2 条**" in md and "`t0`" in md and "`t5`" in md
    assert "**门槛全部通过**" in md  # no gates given to this diff


def test_repeated_runs_report_the_spread_of_each_metric():
    pairs = triage_pairs()
    run = make_run("triage", pairs, repeat=3)
    wobble = run.rows[24]  # repetition 1 gets one case wrong
    wobble["output"] = {**wobble["output"], "label": "deepfake"}
    wobble["scores"] = score_case("triage", wobble["case"], wobble["output"])
    page, md = render_html(run), render_markdown(run)
    assert "重复 3 次的波动" in page and "标准差" in page
    assert re.search(r"\| accuracy \| 0\.98\d+ ± 0\.0196 \|", md), md


@pytest.mark.browser
def test_report_renders_charts_in_headless_chromium(triage_report, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"chromium is not installed at {CHROMIUM} (apt-get install chromium): cannot take the screenshot")
    from PIL import Image

    base, current, d = triage_report
    html_path, png = tmp_path / "report.html", tmp_path / "report.png"
    html_path.write_text(render_html(current, base, d), encoding="utf-8")
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1200,1800", f"--screenshot={png}", html_path.as_uri()],
        check=True, capture_output=True, timeout=120)
    image = Image.open(png).convert("RGB")
    assert image.size == (1200, 1800)
    # The charts sit below the run's facts; their bars and cells are the only blue on the page.
    chart_area = image.crop((0, 300, 1200, 1800))
    blue = sum(1 for r, g, b in chart_area.getdata() if abs(r - 0x2F) < 40 and abs(g - 0x6F) < 40 and abs(b - 0xB0) < 40)
    assert blue > 2000, f"only {blue} chart-blue pixels: the charts did not render"
    non_white = sum(1 for px in chart_area.getdata() if px != (255, 255, 255))
    assert non_white > 20000
