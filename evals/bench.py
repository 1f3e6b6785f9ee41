"""Benchmarks that print figures: ``python -m evals bench retrieval|ingest|fraud-news``.

Speed targets are measured here, never in timed unit tests. Each benchmark reports medians and
ratios from one run, because these machines are noisy.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.settings import Settings


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p)) if values else 0.0


def _corpus_paths(root: Path) -> list[Path]:
    return [p for p in (root / "regulations", root / "cases", root / "scripts") if p.exists()]


class _Timers:
    """Wall time spent inside named calls (wrapped on instances and modules for one bench run)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner: object, attr: str, label: str) -> None:
        original = getattr(owner, attr)

        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - t0

        self._undo.append((owner, attr, original))
        setattr(owner, attr, timed)

    def restore(self) -> None:
        for owner, attr, original in reversed(self._undo):
            setattr(owner, attr, original)
        self._undo.clear()


def _chunk_texts(kb, paths: list[Path]) -> list[str]:
    """The embedding texts of every chunk the corpus gives (what ingest will encode), without writing."""
    from ingest.loaders import LoadOptions, read_file
    from ingest.pipeline import discover

    files, _ = discover(paths)
    docs = {d.doc_id: d for f in files for d in read_file(f, LoadOptions()).docs}
    return [c.embed_text for d in docs.values() for c in kb.chunk(d)]


def bench_ingest(settings: Settings, corpus: Path, repeat_encode: int = 1) -> dict[str, float]:
    """Ingest the corpus into a fresh store; encode the very same chunk texts raw, with the same model
    and batch size, once before and once after the ingest (``repeat_encode`` times each), and compare.

    Raw runs bracket the ingest so that a machine whose load drifts during the run does not favour
    either side. The overhead of the pipeline is broken down by step.
    """
    import rag.index
    from ingest import pipeline
    from rag.service import Service

    paths = _corpus_paths(corpus)
    with tempfile.TemporaryDirectory(prefix="xs-bench-") as tmp:
        svc = Service(settings.model_copy(update={"store": Path(tmp) / "store"}))
        embedder, kb = svc.embedder, svc.kb
        embedder.encode(["预热"], "passage")  # load the model outside the timed part
        texts = _chunk_texts(kb, paths)
        kb._token_limit = None  # measured again inside the ingest

        raw_cpu: list[float] = []

        def raw() -> list[float]:
            times = []
            for _ in range(max(1, repeat_encode)):
                t0, c0 = time.perf_counter(), time.process_time()
                embedder.encode(texts, "passage")
                times.append(time.perf_counter() - t0)
                raw_cpu.append(time.process_time() - c0)
            return times

        raw_times = raw()
        timers = _Timers()
        timers.wrap(embedder, "encode", "encode (the model)")
        timers.wrap(pipeline, "read_file", "read files")
        timers.wrap(kb, "chunk", "chunk + tiktoken + model token check")
        timers.wrap(rag.index, "chunk_identifiers", "identifier extraction")
        timers.wrap(kb.ledger, "stage_many", "ledger writes")
        timers.wrap(kb.ledger, "mark_done", "ledger writes")
        for name in ("upsert", "existing", "update_metadata", "delete", "all_ids"):
            timers.wrap(kb.vectors, name, "Chroma")
        timers.wrap(kb, "rebuild_keywords", "BM25 rebuild")
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            stats = pipeline.ingest_paths(kb, paths)
        finally:
            ingest_s = time.perf_counter() - start
            ingest_cpu = time.process_time() - cpu_start
            timers.restore()
        raw_times += raw()
        ingested = sorted(f"{ctx}\n{text}" if ctx else text for _cid, ctx, text in kb.ledger.all_chunks())
        if ingested != sorted(texts) or stats.chunks_embedded != len(texts):
            raise RuntimeError("基准有误：导入的片段与原始编码的片段不一致")
    raw_s = statistics.mean(raw_times)
    n = stats.chunks_embedded
    steps = dict(sorted(timers.seconds.items(), key=lambda kv: -kv[1]))
    steps["other (loops, lookups, finish)"] = max(0.0, ingest_s - sum(steps.values()))
    return {
        "documents": stats.documents,
        "chunks": n,
        "ingest_s": ingest_s,
        "ingest_chunks_per_s": n / ingest_s if ingest_s else 0.0,
        "raw_s": raw_s,
        "raw_runs": raw_times,
        "raw_chunks_per_s": len(texts) / raw_s if raw_s else 0.0,
        "ratio": (n / ingest_s) / (len(texts) / raw_s) if ingest_s and raw_s else 0.0,
        # CPU seconds of this process (all threads): much less sensitive to other load on the machine
        "ingest_cpu_s": ingest_cpu,
        "raw_cpu_s": statistics.mean(raw_cpu),
        "cpu_ratio": statistics.mean(raw_cpu) / ingest_cpu if ingest_cpu else 0.0,
        # the share of the ingest's own wall time spent in the model
        "model_share": timers.seconds.get("encode (the model)", 0.0) / ingest_s if ingest_s else 0.0,
        "steps": steps,
        "batch_size": settings.embedding_batch_size,
    }


def print_ingest(r: dict) -> None:
    print_table(
        f"ingest vs raw encode on the same {r['chunks']} chunks ({r['documents']} documents, sample corpus, "
        f"batch size {r['batch_size']})",
        ["what", "seconds", "chunks/s"],
        [["ingest pipeline", r["ingest_s"], r["ingest_chunks_per_s"]],
         ["raw sentence-transformers encode (mean of runs before and after)", r["raw_s"], r["raw_chunks_per_s"]]],
    )
    print("raw runs: " + ", ".join(f"{t:.2f}s" for t in r["raw_runs"]))
    print_table("where the ingest time went", ["step", "seconds", "share"],
                [[name, sec, f"{100 * sec / r['ingest_s']:.1f}%"] for name, sec in r["steps"].items()])
    print(f"\nratio ingest/raw = {r['ratio']:.3f}  (overhead {100 * (1 - r['ratio']):.1f}%; target ratio >= 0.85)")
    print(f"same on CPU time: ingest {r['ingest_cpu_s']:.1f}s vs raw {r['raw_cpu_s']:.1f}s, ratio {r['cpu_ratio']:.3f}; "
          f"model share of the ingest's wall time {100 * r['model_share']:.1f}%")
    print("(wall-clock ratios swing with other load on the machine; the CPU ratio and the model share do not)")


def bench_search(settings: Settings, queries: list[str], modes=("hybrid", "dense", "keyword"), k: int = 10):
    from rag.service import Service

    svc = Service(settings)
    svc.search("预热", k=k)
    out: dict[str, dict[str, float]] = {}
    for mode in modes:
        times = []
        for q in queries:
            t0 = time.perf_counter()
            svc.search(q, k=k, mode=mode)
            times.append((time.perf_counter() - t0) * 1000)
        out[mode] = {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95), "n": len(times)}
    return out


def print_table(title: str, header: list[str], rows: list[list[object]]) -> None:
    print(f"\n{title}")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join((f"{x:.3f}" if isinstance(x, float) else str(x)).ljust(w) for x, w in zip(row, widths)))
