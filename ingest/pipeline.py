"""Paths → documents → the knowledge base, with per-file failures collected, never raised."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from ingest.loaders import LOADERS, LoadError, LoadOptions, load_file, source_name
from rag.documents import Document
from rag.index import IngestStats, KnowledgeBase

SKIP_NAMES = {"README.md", "readme.md"}


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to load, and (path, reason) for named paths that cannot be used.

    Directories are walked recursively; inside them hidden files, README.md and files of
    unsupported types are passed over. A file named explicitly is always attempted.
    """
    files: list[Path] = []
    failed: list[tuple[str, str]] = []
    for path in paths:
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path).parts
                if f.is_file() and not any(p.startswith(".") for p in rel) and f.name not in SKIP_NAMES \
                        and f.suffix.lower() in LOADERS:
                    files.append(f)
        elif path.is_file():
            files.append(path)
        else:
            failed.append((str(path), "文件或目录不存在"))
    return files, failed


def ingest_paths(
    kb: KnowledgeBase,
    paths: Iterable[Path],
    options: LoadOptions = LoadOptions(),
    progress: Callable[[int, int, str], None] | None = None,
    prune: bool = False,
) -> IngestStats:
    files, failed = discover(paths)
    docs: dict[str, Document] = {}
    sources: set[str] = set()
    for f in files:
        try:
            for doc in load_file(f, options):
                docs[doc.doc_id] = doc
            sources.add(source_name(f))
        except LoadError as exc:
            failed.append((str(f), str(exc)))
        except Exception as exc:  # a loader bug must not stop the batch either
            failed.append((str(f), f"读取失败（{type(exc).__name__}）"))
    stats = kb.add_documents(docs.values(), progress=progress, total=len(docs))
    if prune:
        stale = [d["doc_id"] for d in kb.ledger.documents()
                 if d["doc_id"] not in docs and _under(d["source"], paths)]
        if stale:
            stats.chunks_removed += kb.delete_documents(stale)
            stats.removed = len(stale)
    stats.failed = failed
    return stats


def _under(source: str, roots: Iterable[Path]) -> bool:
    src = Path(source).resolve()
    for root in roots:
        r = root.resolve()
        if src == r or r in src.parents:
            return True
    return False


def summary_line(stats: IngestStats, files: int | None = None) -> str:
    head = f"文件 {files} 个，" if files is not None else ""
    return (
        f"{head}文档 {stats.documents} 篇（新增 {stats.added}，替换 {stats.replaced}，未变 {stats.unchanged}，"
        f"删除 {stats.removed}），片段新增 {stats.chunks_added}、删除 {stats.chunks_removed}，"
        f"失败 {len(stats.failed)} 个文件，用时 {stats.seconds:.1f} 秒，{stats.chunks_per_second:.1f} 片段/秒"
    )
