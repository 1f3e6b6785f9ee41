"""``python -m ingest PATH... [--store DIR] [--kind …] [--text-field F] [--id-field F] [--label-field F] [--prune]``

Exit status 0 when every file loaded, 1 when any failed (one line each on stderr: which file and
why) or when the store is being written by another process. No traceback unless ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ingest", description="把文件导入知识库（幂等，可重复运行；中断后再次运行即可续完）",
        epilog="支持：.md .txt .jsonl .csv .tsv .xlsx .docx .pdf .html .png .jpg（图片与扫描件经 OCR）")
    p.add_argument("paths", nargs="+", type=Path, help="文件或目录")
    p.add_argument("--store", type=Path, help="知识库目录（默认 <XS_DATA_DIR>/store）")
    p.add_argument("--kind", default="auto", choices=["regulation", "case", "script", "complaint", "auto"])
    p.add_argument("--text-field", default="text", help="行式文件（JSONL/CSV/XLSX）的正文字段")
    p.add_argument("--id-field", help="行式文件的编号字段（默认 id 或 doc_id）")
    p.add_argument("--label-field", default="label", help="行式文件的标签字段")
    p.add_argument("--prune", action="store_true", help="删除源目录中已不存在的文档")
    p.add_argument("--max-mb", type=float, help="单个文件大小上限（MB，默认取设置 max_upload_mb）")
    p.add_argument("--no-ocr", action="store_true", help="不对图片和扫描页做 OCR")
    p.add_argument("--batch-chunks", type=int, default=1024, help="每批写入的片段数（一次提交；默认 1024）")
    p.add_argument("--quiet", action="store_true", help="不显示进度条")
    p.add_argument("--debug", action="store_true", help="出错时显示完整回溯")
    return p


def main(argv: list[str] | None = None, embedder=None) -> int:
    """Run the CLI; ``embedder`` may be injected (tests run a real subprocess with a fast fake)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        from rag.settings import load_settings
        from rag.store import StoreLocked, WriterLock

        settings = load_settings(**({"store": args.store} if args.store else {}))
        lock = WriterLock(settings.store_dir)
        try:
            lock.acquire()  # before anything heavy: a second writer is refused at once
        except StoreLocked as exc:
            print(f"错误：{exc}", file=sys.stderr)
            return 1
        try:
            stats = _run(args, settings, embedder)
        finally:
            lock.release()
    except KeyboardInterrupt:
        print("已中断：再次运行同一命令即可续完（已写入的部分不会重复计算）。", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    from ingest.pipeline import summary_line

    for source, reason in stats.failed:
        print(f"失败：{source}：{reason}", file=sys.stderr)
    for source, reason in stats.warnings:
        print(f"部分失败：{source}：{reason}", file=sys.stderr)
    print(summary_line(stats))
    return 0 if stats.ok else 1


def _run(args: argparse.Namespace, settings, embedder):
    from tqdm import tqdm

    from ingest.loaders import LoadOptions
    from ingest.pipeline import ingest_paths
    from rag.service import Service

    service = Service(settings, embedder=embedder, llm=None)
    max_bytes = int((args.max_mb if args.max_mb is not None else settings.max_upload_mb) * 1024 * 1024)
    options = LoadOptions(args.kind, args.text_field, args.id_field, args.label_field, max_bytes,
                          ocr=not args.no_ocr)
    import bm25s  # it sets its own logger to DEBUG when imported: quiet it once loaded

    logging.getLogger(bm25s.__name__).setLevel(logging.WARNING)
    bar = tqdm(total=0, unit="个", disable=args.quiet or not sys.stderr.isatty(), desc="读取文件", leave=False,
               dynamic_ncols=True)

    writing = False

    def progress(done: int, total: int, message: str) -> None:
        nonlocal writing
        phase, _, name = message.partition(" ")
        if phase == "写入" and not writing:
            writing = True
            bar.reset(total=total)
            bar.set_description("写入文档")
        bar.total = total
        if name:
            bar.set_postfix_str(name[-32:], refresh=False)
        bar.update(done - bar.n)

    try:
        return ingest_paths(service.kb, args.paths, options, progress, prune=args.prune, lock=False,
                            batch_chunks=max(1, args.batch_chunks))
    finally:
        bar.close()


if __name__ == "__main__":
    sys.exit(main())
