"""``python -m evals``: run eval sets, diff runs, and benchmarks that print figures."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent


def _bench(args: argparse.Namespace) -> int:
    from evals import bench

    overrides = {"store": Path(args.store)} if getattr(args, "store", None) else {}
    settings = load_settings(**overrides)
    if args.what == "load":  # issue #8: concurrent users against the workbench (evals/load.py)
        from evals import load

        return load.main(users=args.users, seconds=args.seconds)
    if args.what in ("drafts", "leads", "share"):  # issue #6 figures
        from evals import leads_bench

        return leads_bench.run(args.what, settings)
    if args.what in ("retrieval", "ingest"):
        bench.print_ingest(bench.bench_ingest(settings, ROOT / "corpus", repeat_encode=args.repeat))
    if args.what == "retrieval":
        queries = _queries(ROOT / "evals" / "sets" / "retrieval.jsonl")
        store = settings.store_dir
        if not (store / "ledger.sqlite3").exists():
            print(f"\n知识库 {store} 为空：先运行 python -m ingest corpus/ 再测检索延迟", file=sys.stderr)
            return 1
        res = bench.bench_search(settings, queries)
        bench.print_table(f"search latency over {len(queries)} queries, k=10 ({store})",
                          ["mode", "p50 ms", "p95 ms"],
                          [[m, v["p50_ms"], v["p95_ms"]] for m, v in res.items()])
    if args.what in ("triage", "tf5", "campaigns"):
        from evals import triage_bench

        triage_bench.run(args, settings)
    if args.what == "fraud-news":
        from evals import fraud_news

        fraud_news.run(settings, Path(args.data) if args.data else fraud_news.DEFAULT_DIR, n_queries=args.queries)
    return 0


def _queries(path: Path) -> list[str]:
    if path.exists():
        with open(path, encoding="utf-8") as f:
            return [json.loads(line).get("query") or json.loads(line).get("text") for line in f if line.strip()]
    return ["征信修复公司说能删除逾期记录，可信吗？", "法务公司代理投诉要求减免", "冒充客服屏幕共享", "催收不得实施的行为"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals", description="线索评测：运行评测集、对比、基准测试")
    parser.add_argument("--debug", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="基准测试（打印数字）")
    b.add_argument("what", choices=["retrieval", "ingest", "fraud-news", "drafts", "leads", "share",
                                     "triage", "tf5", "campaigns", "load"])
    b.add_argument("--store")
    b.add_argument("--repeat", type=int, default=1, help="raw encode 重复次数（取中位数）")
    b.add_argument("--queries", type=int, default=300, help="fraud-news 抽样查询数（0 = 全部）")
    b.add_argument("--data", help="fraud_news 数据目录")
    b.add_argument("--set", help="triage：评测集（默认 evals/sets/triage.jsonl）；tf5：数据文件")
    b.add_argument("--holdout", action="append", help="tf5：留出的诈骗类型（可多次；默认逐一留出全部四类）")
    b.add_argument("--size", type=int, default=100_000, help="campaigns：计时用的投诉条数（0 = 不测）")
    b.add_argument("--users", type=int, default=20, help="load：并发用户数")
    b.add_argument("--seconds", type=float, default=30.0, help="load：压测时长（秒）")
    b.set_defaults(func=_bench)
    from evals.commands import add_commands  # run, diff, baseline, report

    add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as exc:
        if args.debug:
            raise
        print(f"错误：{exc}", file=sys.stderr)
        return 1
