"""评测 tab: pick a task, an eval set and two prompt versions (or the committed baseline), run them
with progress, and see the metric table with the gates, the cases that flipped, and the HTML report
(inline, and as a file to download).

Runs go through :mod:`evals.runner` on this workbench's own store and embedding model; the run
files are kept under ``<data_dir>/eval_runs/``.
"""

from __future__ import annotations

import html
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from evals import diff as diffing
from evals import report, runner
from evals.commands import baseline_path, write_reports
from evals.scorers import TASKS
from rag.prompts import available_versions
from rag.service import Service
from ui.context import UIContext

try:  # the permission check and audit line every handler runs (see ui.context)
    from ui.context import guarded
except ImportError:  # pragma: no cover - a checkout without users and roles
    def guarded(permission: str, *, audit: bool = True):
        return lambda fn: fn

BASELINE = "基线（已提交的离线结果）"
CURRENT = "当前版本"
TASK_CHOICES = [("检索 retrieval", "retrieval"), ("问答 answer", "answer"), ("研判 triage", "triage"),
                ("起草 draft", "draft"), ("线索 leads", "leads")]
TABLE_HEADERS = ["指标", "A（对照）", "B（本次）", "变化"]  # as the two version pickers are named


class _Progress:
    """Runner progress → gr.Progress, for one of the two runs."""

    def __init__(self, progress: Any, label: str, offset: float, share: float) -> None:
        self.progress, self.label, self.offset, self.share = progress, label, offset, share

    def __call__(self, done: int, total: int, item: str) -> None:
        if self.progress is not None:
            self.progress(self.offset + self.share * done / max(total, 1), desc=f"{self.label} {done}/{total} {item}")


class EvalHandlers:
    def __init__(self, service: Service) -> None:
        self.service = service

    # -- choices --------------------------------------------------------------------------------
    def set_choices(self, task: str) -> list[str]:
        default = runner.DEFAULT_SETS[task]
        suffix = Path(default).suffix
        names = sorted(p.name for p in runner.SETS_DIR.glob(f"*{suffix}"))
        return sorted(names, key=lambda n: n != default)  # the task's own set first

    def version_choices(self, task: str) -> list[str]:
        versions = available_versions(self.service.settings.prompts_dir, task) if task in runner.PROMPT_TASKS else []
        return [f"{task}@v{v}" for v in versions] or [CURRENT]

    @guarded("evals.view", audit=False)
    def choices(self, task: str, request: gr.Request = None):
        """(set, version A, version B) dropdown updates for a task."""
        sets, versions = self.set_choices(task), self.version_choices(task)
        a_choices = ([BASELINE] if baseline_path(task).exists() else []) + versions
        return (gr.update(choices=sets, value=sets[0] if sets else None),
                gr.update(choices=a_choices, value=a_choices[0]),
                gr.update(choices=versions, value=versions[-1]))

    # -- running --------------------------------------------------------------------------------
    def _make_service(self, backend: str):
        return lambda s: Service(s, embedder=self.service.embedder, llm=None if backend == "offline" else True)

    def _run(self, task: str, set_name: str, version: str, backend: str, progress: _Progress) -> runner.Run:
        prompt = None if version == CURRENT else version
        return runner.run_eval(task, runner.SETS_DIR / set_name, self.service.settings, prompt=prompt, backend=backend,
                               make_service=self._make_service(backend), progress=progress)

    @guarded("evals.run")
    def run(self, task: str, set_name: str, a: str, b: str, backend: str = "offline",
            progress: Any = gr.Progress(), request: gr.Request = None):
        """(status, metric rows, flipped cases HTML, report HTML, report file)."""
        if task not in TASKS or not set_name or not a or not b:
            return "请先选择任务、评测集和要比较的两个版本。", [], "", "", None
        if Path(set_name).name != set_name or not (runner.SETS_DIR / set_name).is_file():
            return f"评测集 {html.escape(set_name)} 不在 evals/sets/ 中。", [], "", "", None
        try:
            if a == BASELINE:
                base = runner.load_run(baseline_path(task))
                current = self._run(task, set_name, b, backend, _Progress(progress, f"B {b}", 0.0, 1.0))
            else:
                base = self._run(task, set_name, a, backend, _Progress(progress, f"A {a}", 0.0, 0.5))
                current = self._run(task, set_name, b, backend, _Progress(progress, f"B {b}", 0.5, 0.5))
            d = diffing.compare(base, current)
        except runner.EvalError as exc:
            return f"⚠ {exc}", [], "", "", None
        folder = write_reports(current, self.service.settings.data_dir / "eval_runs" / runner.run_dir_name(current), base, d)
        page = (folder / "report.html").read_text(encoding="utf-8")
        download = Path(tempfile.mkdtemp(prefix="xs-eval-")) / f"评测报告-{task}.html"
        download.write_text(page, encoding="utf-8")
        return (self.status(d, a, b), self.table_rows(d), self.flips_html(d),
                f'<iframe id="xs-eval-frame" title="评测报告" style="width:100%;height:900px;border:1px solid #ddd" '
                f'srcdoc="{html.escape(page, quote=True)}"></iframe>', str(download))

    # -- views ----------------------------------------------------------------------------------
    @staticmethod
    def status(d: diffing.Diff, a: str, b: str) -> str:
        gate = ("❌ 门槛未通过：" + "；".join(str(x) for x in d.breaches)) if d.breaches else "✅ 门槛全部通过"
        lines = [f"**A** {a} → **B** {b}：{gate}",
                 f"由通过变为失败 {len(d.to_fail)} 条，由失败变为通过 {len(d.to_pass)} 条，其他输出有变化 {d.changed} 条。"]
        return "\n\n".join(lines + [f"注意：{w}" for w in d.warnings])

    @staticmethod
    def table_rows(d: diffing.Diff) -> list[list[str]]:
        return [[m, diffing.fmt(b), diffing.fmt(c), diffing.fmt_delta(delta)] for m, b, c, delta in d.table()]

    @staticmethod
    def flips_html(d: diffing.Diff) -> str:
        return (report.flips_table(d.task, d.to_fail, "由通过变为失败") + report.flips_table(d.task, d.to_pass, "由失败变为通过"))


def build(ctx: UIContext) -> None:
    h = EvalHandlers(ctx.service)
    first = TASK_CHOICES[0][1]
    sets, versions = h.set_choices(first), h.version_choices(first)
    a_choices = ([BASELINE] if baseline_path(first).exists() else []) + versions
    backends = [("离线引擎", "offline")] + ([("大模型接口", "openai")] if ctx.service.settings.llm_configured else [])
    gr.Markdown("改动提示词或模型之前，先在评测集上比较两个版本：哪些用例变好、哪些变坏、花费多少、门槛是否通过。"
                "命令行：`python -m evals run|diff|report`。")
    with gr.Row():
        task = gr.Dropdown(TASK_CHOICES, value=first, label="任务", elem_id="xs-eval-task")
        set_name = gr.Dropdown(sets, value=sets[0] if sets else None, label="评测集", elem_id="xs-eval-set")
        a = gr.Dropdown(a_choices, value=a_choices[0], label="A（对照）", elem_id="xs-eval-a")
        b = gr.Dropdown(versions, value=versions[-1], label="B（本次）", elem_id="xs-eval-b")
        backend = gr.Dropdown(backends, value="offline", label="后端", elem_id="xs-eval-backend")
    run_btn = gr.Button("运行并比较", variant="primary", elem_id="xs-eval-run")
    status = gr.Markdown("", elem_id="xs-eval-status")
    table = gr.Dataframe(headers=TABLE_HEADERS, value=[], label="指标（A → B）", interactive=False, elem_id="xs-eval-table")
    flips = gr.HTML("", elem_id="xs-eval-flips")
    with gr.Accordion("完整报告", open=False):
        page = gr.HTML("", elem_id="xs-eval-report")
    download = gr.File(label="下载 HTML 报告", elem_id="xs-eval-download")
    task.change(h.choices, [task], [set_name, a, b], api_name="eval_choices")
    run_btn.click(h.run, [task, set_name, a, b, backend], [status, table, flips, page, download], api_name="eval_run")
