"""Paths → documents → the knowledge base, with per-file failures collected, never raised.

One run holds the store's writer lock from start to end, in two phases with progress: reading
(``读取 <file>``, per file) and writing (``写入 <doc>``, per document). Each file is first checked
against the ledger's ``files`` table (same sha256 and options: not parsed again), else read by its
loader; the documents then go to :meth:`rag.index.KnowledgeBase.write_documents` in batches. A file
that loaded replaces what it gave before: documents it no longer yields are removed. With
``prune``, documents whose source file vanished from under the given directories are removed too.
Documents of a file that failed are left as they were (a damaged upload never deletes anything).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from pathlib import Path

from ingest.loaders import Loaded, LoadError, LoadOptions, RowError, read_file, source_name, supported
from rag.documents import Document
from rag.index import DEFAULT_BATCH_CHUNKS, IngestStats, KnowledgeBase, checkpoint

SKIP_NAMES = {"README.md", "readme.md", "README.markdown"}
Progress = Callable[[int, int, str], None]  # (done, total, "读取 <file>" | "读取完成" | "写入 <doc_id>")


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Files to load, and (path, reason) for named paths that cannot be used.

    Directories are walked recursively; inside them hidden files, README.md and files of
    unsupported types are passed over. A file named explicitly is always attempted.
    """
    files, failed, _skipped = discover_files(paths)
    return files, failed


def discover_files(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[str, str]], int]:
    """(files, failures, how many unsupported files were passed over in directories)."""
    files: list[Path] = []
    failed: list[tuple[str, str]] = []
    skipped = 0
    seen: set[Path] = set()

    def add(f: Path) -> None:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            files.append(f)

    for path in paths:
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path).parts
                if not f.is_file() or any(p.startswith(".") for p in rel) or f.name in SKIP_NAMES:
                    continue
                if supported(f):
                    add(f)
                else:
                    skipped += 1
        elif path.is_file():
            add(path)
        else:
            failed.append((str(path), "文件或目录不存在"))
    return files, failed, skipped


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Run:
    """The state of one ingest run while documents stream into the knowledge base."""

    def __init__(self, kb: KnowledgeBase, files: list[tuple[Path, LoadOptions]], stats: IngestStats,
                 progress: Progress | None) -> None:
        self.kb, self.files, self.stats, self.progress = kb, files, stats, progress
        self.seen: dict[str, str] = {}  # doc_id -> source that gave it in this run
        self.loaded_sources: dict[str, set[str]] = {}  # source -> doc ids, for files read in full
        self.records: list[tuple[str, str, str, list[str]]] = []  # for the ledger's files table
        self.failed_sources: set[str] = set()

    def documents(self) -> list[Document]:
        """Every document of every file (phase one: reading); progress per file."""
        docs: list[Document] = []
        total = len(self.files)
        for i, (f, options) in enumerate(self.files, start=1):
            if self.progress:
                self.progress(i - 1, total, f"读取 {f.name}")
            docs.extend(self._file(f, options))
        if self.progress and total:
            self.progress(total, total, "读取完成")
        return docs

    def _file(self, f: Path, options: LoadOptions) -> Iterator[Document]:
        stats, source = self.stats, source_name(f)
        key = str(f.resolve())
        stats.files += 1
        try:
            sha = file_sha256(f)
        except OSError as exc:
            self._fail(f, source, f"无法读取：{exc.strerror or exc}")
            return
        record = self.kb.ledger.file_record(key)
        if record and record["sha256"] == sha and record["options"] == options.key():
            states = self.kb.ledger.states(record["doc_ids"])
            if all(states.get(d, ("", ""))[1] == "done" for d in record["doc_ids"]) and \
                    not any(d in self.seen for d in record["doc_ids"]):
                stats.files_unchanged += 1
                stats.documents += len(record["doc_ids"])
                stats.unchanged += len(record["doc_ids"])
                stats.chunks_unchanged += sum(states[d][2] for d in record["doc_ids"])
                for d in record["doc_ids"]:
                    self.seen[d] = source
                self.loaded_sources[source] = set(record["doc_ids"])
                return
        try:
            loaded = read_file(f, options)
        except LoadError as exc:
            self._fail(f, source, str(exc))
            return
        except Exception as exc:  # a loader bug must not stop the batch either
            self._fail(f, source, f"读取失败（{type(exc).__name__}）")
            return
        docs = self._dedupe(loaded, source)
        if loaded.problems:
            self.stats.warnings.append((str(f), loaded.problem_line()))
            self.failed_sources.add(source)
        else:
            self.loaded_sources[source] = {d.doc_id for d in docs}
            self.records.append((key, sha, options.key(), [d.doc_id for d in docs]))
        yield from docs

    def _dedupe(self, loaded: Loaded, source: str) -> list[Document]:
        docs = []
        for d in loaded.docs:
            if d.doc_id in self.seen:
                loaded.problems.append(
                    RowError(0, f"文档编号 {d.doc_id} 已由 {self.seen[d.doc_id]} 导入，此处的同号文档未导入"))
                continue
            self.seen[d.doc_id] = source
            docs.append(d)
        loaded.docs = docs
        return docs

    def _fail(self, f: Path, source: str, reason: str) -> None:
        self.stats.failed.append((str(f), reason))
        self.failed_sources.add(source)


def ingest_paths(
    kb: KnowledgeBase,
    paths: Iterable[Path],
    options: LoadOptions = LoadOptions(),
    progress: Progress | None = None,
    prune: bool = False,
    lock: bool = True,
    batch_chunks: int = DEFAULT_BATCH_CHUNKS,
) -> IngestStats:
    """Bring the knowledge base up to date with ``paths``; failures are collected in the stats.

    ``progress(done, total, message)`` reports files while reading ("读取 …", done/total in files)
    and documents while writing ("写入 …", in documents). ``lock=False`` when the caller already
    holds ``kb.writer()``.
    """
    paths = list(paths)
    files, failed, skipped = discover_files(paths)
    return _ingest(kb, [(f, options) for f in files], paths if prune else [], progress, lock, batch_chunks,
                   failed=failed, skipped=skipped)


def reindex(kb: KnowledgeBase, progress: Progress | None = None, lock: bool = True,
            base: LoadOptions = LoadOptions()) -> IngestStats:
    """Re-read every source file the knowledge base knows, each with the options it was last read
    with; remove the documents of files that are gone; then check the store against the ledger and
    rebuild the keyword index whatever their state."""
    with kb.writer() if lock else nullcontext():
        recorded = kb.ledger.files()
        jobs: list[tuple[Path, LoadOptions]] = []
        gone: list[str] = []
        for source, doc_ids in kb.ledger.sources().items():
            if not source:
                continue  # documents added directly, not from a file
            path = Path(source)
            if path.is_file():
                key = recorded.get(str(path.resolve()))
                opts = LoadOptions.from_key(key, max_bytes=base.max_bytes, ocr=base.ocr) if key else base
                jobs.append((path, opts))
            elif str(path.resolve()) in recorded or supported(path):
                gone += doc_ids  # its file is gone (a source that names no file, e.g. "tf5", is kept)
        kb.ledger.set_meta("dirty", "1")
        stats = _ingest(kb, jobs, [], progress, False, DEFAULT_BATCH_CHUNKS, extra_stale=gone)
        kb.ledger.forget_files(p for p in recorded if not Path(p).exists())
        kb.rebuild_keywords()
    return stats


def _ingest(kb: KnowledgeBase, files: list[tuple[Path, LoadOptions]], prune_roots: list[Path],
            progress: Progress | None, lock: bool, batch_chunks: int, failed: list[tuple[str, str]] = (),
            skipped: int = 0, extra_stale: list[str] = ()) -> IngestStats:
    start = time.perf_counter()
    stats = IngestStats(files_skipped=skipped)
    stats.failed.extend(failed)
    with kb.writer() if lock else nullcontext():
        run = _Run(kb, files, stats, progress)
        docs = run.documents()
        checkpoint("read")
        write_progress = (lambda done, total, doc_id: progress(done, total, f"写入 {doc_id}")) if progress else None
        kb.write_documents(docs, stats, write_progress, total=len(docs), batch_chunks=batch_chunks)
        stale = _stale_documents(kb, run, prune_roots, bool(prune_roots))
        stale += [d for d in extra_stale if d not in run.seen and d not in stale]
        if stale:
            stats.chunks_removed += kb.delete_documents(stale, lock=False, finish=False)
            stats.removed += len(stale)
        if run.records:
            kb.ledger.record_files(run.records)
        if prune_roots:
            kb.ledger.forget_files(str(p.resolve()) for p in _vanished_files(kb, prune_roots))
        kb.finish(stats)
    stats.seconds = time.perf_counter() - start
    return stats


def _stale_documents(kb: KnowledgeBase, run: _Run, roots: list[Path], prune: bool) -> list[str]:
    """Documents to remove: those a fully loaded file no longer yields, and with ``prune`` those
    whose source is under ``roots`` but was not seen in this run (and did not fail)."""
    stale: list[str] = []
    for source, doc_ids in kb.ledger.sources().items():
        if source in run.failed_sources:
            continue
        if source in run.loaded_sources:
            stale += [d for d in doc_ids if d not in run.loaded_sources[source] and run.seen.get(d) != source]
        elif prune and source and _under(source, roots):
            stale += [d for d in doc_ids if d not in run.seen]
    return stale


def _vanished_files(kb: KnowledgeBase, roots: list[Path]) -> list[Path]:
    return [Path(p) for p in kb.ledger.files() if not Path(p).exists() and _under(p, roots)]


def _under(source: str, roots: Iterable[Path]) -> bool:
    src = Path(source).resolve()
    for root in roots:
        r = root.resolve()
        if src == r or r in src.parents:
            return True
    return False


def summary_line(stats: IngestStats, files: int | None = None) -> str:
    n_files = stats.files if files is None else files
    failed = len(stats.failed)
    parts = [f"失败 {failed}"]
    if stats.warnings:
        parts.append(f"部分导入 {len(stats.warnings)}")
    if stats.files_unchanged:
        parts.append(f"未变 {stats.files_unchanged}")
    if stats.files_skipped:
        parts.append(f"跳过不支持的 {stats.files_skipped}")
    return (
        f"文件 {n_files} 个（{'，'.join(parts)}），"
        f"文档 {stats.documents} 篇（新增 {stats.added}，替换 {stats.replaced}，未变 {stats.unchanged}，"
        f"删除 {stats.removed}），片段新增 {stats.chunks_added}、沿用 {stats.chunks_kept + stats.chunks_unchanged}、"
        f"删除 {stats.chunks_removed}，失败 {failed} 个文件，"
        f"用时 {stats.seconds:.1f} 秒，{stats.chunks_per_second:.1f} 片段/秒"
    )
