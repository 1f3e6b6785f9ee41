"""Benchmarks that print figures: ``python -m evals bench retrieval|ingest|fraud-news``.

Speed targets are measured here, never in timed unit tests. Each benchmark reports medians and
ratios from one run, because these machines are noisy.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

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


def _timed_ingest(kb, paths: list[Path]) -> tuple[object, float, _Timers]:
    """One ingest of ``paths`` into ``kb`` (a fresh store): (stats, wall seconds, time per step)."""
    import rag.index
    from ingest import pipeline

    timers = _Timers()
    timers.wrap(kb.embedder, "encode", "encode (the model)")
    timers.wrap(pipeline, "read_file", "read files")
    timers.wrap(kb, "chunk", "chunk + tiktoken + model token check")
    timers.wrap(rag.index, "chunk_identifiers", "identifier extraction")
    timers.wrap(kb.ledger, "stage_many", "ledger writes")
    timers.wrap(kb.ledger, "mark_done", "ledger writes")
    for name in ("upsert", "existing", "update_metadata", "delete", "all_ids"):
        timers.wrap(kb.vectors, name, "Chroma")
    timers.wrap(kb, "rebuild_keywords", "BM25 rebuild")
    start = time.perf_counter()
    try:
        stats = pipeline.ingest_paths(kb, paths)
    finally:
        seconds = time.perf_counter() - start
        timers.restore()
    return stats, seconds, timers


def bench_ingest(settings: Settings, corpus: Path, repeat_encode: int = 1, rounds: int = 2) -> dict[str, Any]:
    """Ingest the corpus into fresh stores and encode the very same chunk texts raw (same model, same
    batch size), interleaved: raw, ingest, raw, ingest, …, raw (``rounds`` ingests, ``repeat_encode``
    raw encodes per slot), so load that drifts during the run (these machines are shared) favours
    neither side. The ratio compares the best run of each side (medians beside it). The ingest's time
    is also broken down by step: the share spent in the model is measured within each ingest and does
    not depend on that load at all.
    """
    from rag.service import Service

    paths = _corpus_paths(corpus)
    with tempfile.TemporaryDirectory(prefix="xs-bench-") as tmp:
        first = Service(settings.model_copy(update={"store": Path(tmp) / "store-0"}))
        embedder = first.embedder
        embedder.encode(["预热"], "passage")  # load the model outside the timed part
        texts = _chunk_texts(first.kb, paths)

        def raw() -> list[float]:
            times = []
            for _ in range(max(1, repeat_encode)):
                t0 = time.perf_counter()
                embedder.encode(texts, "passage")
                times.append(time.perf_counter() - t0)
            return times

        raw_times = raw()
        runs = []
        for i in range(max(1, rounds)):
            svc = first if i == 0 else Service(settings.model_copy(update={"store": Path(tmp) / f"store-{i}"}),
                                               embedder=embedder)
            svc.kb._token_limit = None  # found again inside the timed ingest
            stats, seconds, timers = _timed_ingest(svc.kb, paths)
            ingested = sorted(f"{ctx}\n{text}" if ctx else text for _cid, ctx, text in svc.kb.ledger.all_chunks())
            if ingested != sorted(texts) or stats.chunks_embedded != len(texts):
                raise RuntimeError("基准有误：导入的片段与原始编码的片段不一致")
            runs.append((seconds, stats, timers.seconds))
            raw_times += raw()
    # Best of each side (as timeit does: the least disturbed run), with medians beside them.
    seconds, stats, steps_s = min(runs, key=lambda r: r[0])
    ingest_s, raw_s = seconds, min(raw_times)
    n = stats.chunks_embedded
    median_ratio = statistics.median(raw_times) / statistics.median(r[0] for r in runs)
    steps = dict(sorted(steps_s.items(), key=lambda kv: -kv[1]))
    steps["other (loops, lookups, finish)"] = max(0.0, seconds - sum(steps.values()))
    shares = [r[2].get("encode (the model)", 0.0) / r[0] for r in runs]
    return {
        "documents": stats.documents,
        "chunks": n,
        "ingest_s": ingest_s,
        "ingest_runs": [r[0] for r in runs],
        "ingest_chunks_per_s": n / ingest_s if ingest_s else 0.0,
        "raw_s": raw_s,
        "raw_runs": raw_times,
        "raw_chunks_per_s": len(texts) / raw_s if raw_s else 0.0,
        "ratio": (n / ingest_s) / (len(texts) / raw_s) if ingest_s and raw_s else 0.0,
        "median_ratio": median_ratio,
        # within each ingest: the share of its wall time spent in the model (1 - the pipeline's overhead)
        "model_share": statistics.median(shares),
        "steps": steps,
        "step_seconds": seconds,
        "batch_size": settings.embedding_batch_size,
    }


def print_ingest(r: dict) -> None:
    print_table(
        f"ingest vs raw encode on the same {r['chunks']} chunks ({r['documents']} documents, sample corpus, "
        f"batch size {r['batch_size']}; best of interleaved runs)",
        ["what", "seconds", "chunks/s"],
        [["ingest pipeline (fresh store)", r["ingest_s"], r["ingest_chunks_per_s"]],
         ["raw sentence-transformers encode", r["raw_s"], r["raw_chunks_per_s"]]],
    )
    print("ingest runs: " + ", ".join(f"{t:.2f}s" for t in r["ingest_runs"])
          + "; raw runs: " + ", ".join(f"{t:.2f}s" for t in r["raw_runs"]))
    print_table("where the (best) ingest's time went", ["step", "seconds", "share"],
                [[name, sec, f"{100 * sec / r['step_seconds']:.1f}%"] for name, sec in r["steps"].items()])
    print(f"\nratio ingest/raw = {r['ratio']:.3f}  (overhead {100 * (1 - r['ratio']):.1f}%; target ratio >= 0.85); "
          f"on medians {r['median_ratio']:.3f}")
    print(f"model share of the ingest's own time = {r['model_share']:.3f}  "
          f"(pipeline overhead {100 * (1 - r['model_share']):.1f}%, measured inside each ingest: "
          "unlike the ratio, it does not move with other load on the machine)")


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
    cells = [[f"{x:.3f}" if isinstance(x, float) else str(x) for x in row] for row in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *cells)]
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths)))
    for row in cells:
        print("  ".join(x.ljust(w) for x, w in zip(row, widths)))
