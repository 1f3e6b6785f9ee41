"""``python -m ingest PATH... [--store DIR] [--kind …] [--text-field F] [--id-field F] [--label-field F] [--prune]``"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ingest", description="把文件导入知识库（幂等，可重复运行）")
    p.add_argument("paths", nargs="+", type=Path, help="文件或目录")
    p.add_argument("--store", type=Path, help="知识库目录（默认 <XS_DATA_DIR>/store）")
    p.add_argument("--kind", default="auto", choices=["regulation", "case", "script", "complaint", "auto"])
    p.add_argument("--text-field", default="text")
    p.add_argument("--id-field")
    p.add_argument("--label-field", default="label")
    p.add_argument("--prune", action="store_true", help="删除源目录中已不存在的文档")
    p.add_argument("--quiet", action="store_true", help="不显示进度条")
    p.add_argument("--debug", action="store_true", help="出错时显示完整回溯")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        from tqdm import tqdm

        from ingest.loaders import LoadOptions
        from ingest.pipeline import ingest_paths, summary_line
        from rag.service import Service
        from rag.settings import load_settings

        settings = load_settings(**({"store": args.store} if args.store else {}))
        service = Service(settings)
        options = LoadOptions(args.kind, args.text_field, args.id_field, args.label_field,
                              settings.max_upload_mb * 1024 * 1024)
        bar = tqdm(total=0, unit="篇", disable=args.quiet or not sys.stderr.isatty(), desc="导入")

        def progress(done: int, total: int, _doc_id: str) -> None:
            bar.total = total
            bar.update(done - bar.n)

        stats = ingest_paths(service.kb, args.paths, options, progress, prune=args.prune)
        bar.close()
    except Exception as exc:
        if args.debug:
            raise
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    for source, reason in stats.failed:
        print(f"失败：{source}：{reason}", file=sys.stderr)
    print(summary_line(stats))
    return 1 if stats.failed else 0


if __name__ == "__main__":
    sys.exit(main())
