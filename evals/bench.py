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


def bench_ingest(settings: Settings, corpus: Path, repeat_encode: int = 1) -> dict[str, float]:
    """Ingest the corpus into a fresh store, then encode the very same chunks raw; compare."""
    from ingest.pipeline import ingest_paths
    from rag.service import Service

    with tempfile.TemporaryDirectory(prefix="xs-bench-") as tmp:
        svc = Service(settings.model_copy(update={"store": Path(tmp) / "store"}))
        embedder = svc.embedder
        embedder.encode(["预热"], "passage")  # load the model outside the timed part
        start = time.perf_counter()
        stats = ingest_paths(svc.kb, _corpus_paths(corpus))
        ingest_s = time.perf_counter() - start
        rows = svc.kb.ledger.all_chunks()
        texts = [f"{ctx}\n{text}" if ctx else text for _cid, ctx, text in rows]
        raw_times = []
        for _ in range(repeat_encode):
            t0 = time.perf_counter()
            embedder.encode(texts, "passage")
            raw_times.append(time.perf_counter() - t0)
        raw_s = statistics.median(raw_times)
    n = stats.chunks_embedded
    return {
        "documents": stats.documents,
        "chunks": n,
        "ingest_s": ingest_s,
        "ingest_chunks_per_s": n / ingest_s if ingest_s else 0.0,
        "raw_s": raw_s,
        "raw_chunks_per_s": len(texts) / raw_s if raw_s else 0.0,
        "ratio": (n / ingest_s) / (len(texts) / raw_s) if ingest_s and raw_s else 0.0,
    }


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
