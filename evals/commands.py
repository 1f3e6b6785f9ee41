"""The eval subcommands of ``python -m evals``: run, diff, baseline, report.

    python -m evals run TASK [--set FILE] [--prompt TASK@vN] [--backend offline|openai] [--repeat N] [--out DIR]
    python -m evals diff BASELINE RUN [--gates FILE] [--html FILE] [--md FILE]   → exit 1 when a gate fails
    python -m evals baseline TASK… | all                                         → evals/baselines/TASK.jsonl
    python -m evals report RUN [--baseline FILE] [--html FILE] [--md FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evals import diff as diffing
from evals import report, runner
from evals.scorers import TASKS, summarize
from rag.settings import Settings, load_settings

BASELINES_DIR = runner.ROOT / "evals" / "baselines"


def baseline_path(task: str) -> Path:
    return BASELINES_DIR / f"{task}.jsonl"


def default_set(task: str) -> Path:
    return runner.SETS_DIR / runner.DEFAULT_SETS[task]


def headline(run: runner.Run) -> str:
    m = summarize(run.task, run.rows).metrics
    keys = [k for k in report.HEADLINE[run.task] if k in m] + ["pass_rate", "latency_p50_ms"]
    return "  ".join(f"{k}={diffing.fmt(m[k])}" for k in keys)


def write_reports(run: runner.Run, folder: Path, base: runner.Run | None = None, d: diffing.Diff | None = None) -> Path:
    """run.jsonl, report.html and summary.md in one folder."""
    runner.write_run(run, folder / "run.jsonl")
    (folder / "report.html").write_text(report.render_html(run, base, d), encoding="utf-8")
    (folder / "summary.md").write_text(report.render_markdown(run, base, d), encoding="utf-8")
    return folder


def progress_printer(label: str):
    def show(done: int, total: int, item: str) -> None:
        if sys.stderr.isatty():
            print(f"\r{label} {done}/{total} {item}          ", end="" if done < total else "\n", file=sys.stderr)

    return show


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(**({"store": Path(args.store)} if getattr(args, "store", None) else {}))


def _run(args: argparse.Namespace) -> int:
    if args.task == "injection":  # the prompt-injection guard eval (issue #8): its own harness and figures
        from evals import injection

        return injection.main(args.set, args.out)
    settings = _settings(args)
    set_path = Path(args.set) if args.set else default_set(args.task)
    run = runner.run_eval(args.task, set_path, settings, prompt=args.prompt, backend=args.backend,
                          repeat=args.repeat, progress=progress_printer(args.task))
    base = runner.load_run(Path(args.baseline)) if args.baseline else None
    d = diffing.compare(base, run) if base else None
    folder = write_reports(run, Path(args.out or runner.RUNS_DIR) / runner.run_dir_name(run), base, d)
    print(headline(run))
    print(f"结果：{folder / 'run.jsonl'}\n报告：{folder / 'report.html'}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    base, run = runner.load_run(Path(args.baseline)), runner.load_run(Path(args.run))
    d = diffing.compare(base, run, gates_path=Path(args.gates) if args.gates else diffing.GATES_FILE)
    print(diffing.render_text(d, show=args.show))
    if args.html:
        Path(args.html).write_text(report.render_html(run, base, d), encoding="utf-8")
    if args.md:
        Path(args.md).write_text(report.render_markdown(run, base, d), encoding="utf-8")
    return 1 if d.failed else 0


def _baseline(args: argparse.Namespace) -> int:
    """Re-measure the committed offline baselines on a store of exactly the sample corpus."""
    tasks = list(TASKS) if "all" in args.task else list(dict.fromkeys(args.task))
    settings = runner.corpus_settings(load_settings(), progress=progress_printer("知识库"))
    for task in tasks:
        try:
            run = runner.run_eval(task, Path(args.set) if args.set else default_set(task), settings,
                                  backend="offline", repeat=args.repeat, progress=progress_printer(task))
        except runner.EngineMissing as exc:
            if "all" not in args.task:
                raise
            print(f"跳过 {task}：{exc}")
            continue
        runner.write_run(run, baseline_path(task))
        print(f"{task}: {headline(run)}\n  → {baseline_path(task)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    run = runner.load_run(Path(args.run))
    base = runner.load_run(Path(args.baseline)) if args.baseline else None
    d = diffing.compare(base, run) if base else None
    source = Path(args.run)
    default = source / "report.html" if source.is_dir() else runner.RUNS_DIR / f"{source.stem}-report.html"
    html_path = Path(args.html) if args.html else default
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(report.render_html(run, base, d), encoding="utf-8")
    md = report.render_markdown(run, base, d)
    if args.md:
        Path(args.md).write_text(md, encoding="utf-8")
    print(md)
    print(f"报告：{html_path}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("run", help="在评测集上运行一个任务，写出逐条结果（JSONL）与报告")
    p.add_argument("task", choices=[*TASKS, "injection"])
    p.add_argument("--set", help="评测集文件（默认 evals/sets/ 下该任务的评测集）")
    p.add_argument("--prompt", help="本次使用的提示词版本，例如 answer@1（默认 prompts/active.yaml）")
    p.add_argument("--backend", choices=["offline", "openai"], default="offline")
    p.add_argument("--repeat", type=int, default=1, help="重复运行次数，报告每个指标的波动")
    p.add_argument("--out", help="结果目录（默认 evals/runs/）")
    p.add_argument("--store", help="知识库目录（默认 <XS_DATA_DIR>/store）")
    p.add_argument("--baseline", help="同时与该基线比较（写入报告，不影响退出码）")
    p.set_defaults(func=_run)

    p = sub.add_parser("diff", help="比较两次评测：指标变化、翻转的用例；门槛未通过时退出码为 1")
    p.add_argument("baseline", help="基线结果（run.jsonl 或其目录），例如 evals/baselines/answer.jsonl")
    p.add_argument("run", help="本次结果（run.jsonl 或其目录）")
    p.add_argument("--gates", help="门槛文件（默认 evals/gates.yaml）")
    p.add_argument("--html", help="另存 HTML 报告")
    p.add_argument("--md", help="另存 Markdown 摘要")
    p.add_argument("--show", type=int, default=50, help="每类翻转最多列出的用例数")
    p.set_defaults(func=_diff)

    p = sub.add_parser("baseline", help="在样例知识库上重新生成离线基线（evals/baselines/）")
    p.add_argument("task", nargs="+", choices=[*TASKS, "all"], help="一个或多个任务；all = 引擎已安装的全部任务")
    p.add_argument("--set", help="评测集文件（默认 evals/sets/ 下该任务的评测集）")
    p.add_argument("--repeat", type=int, default=1)
    p.set_defaults(func=_baseline)

    p = sub.add_parser("report", help="为一次评测生成 HTML 报告与 Markdown 摘要")
    p.add_argument("run", help="评测结果（run.jsonl 或其目录）")
    p.add_argument("--baseline", help="与该基线比较")
    p.add_argument("--html", help="HTML 报告路径（默认：结果目录下的 report.html，或 evals/runs/<文件名>-report.html）")
    p.add_argument("--md", help="另存 Markdown 摘要")
    p.set_defaults(func=_report)
