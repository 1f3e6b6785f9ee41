"""External retrieval benchmark on ../shared/data/fraud_news (news reports of real fraud cases).

Queries are scammer–victim dialogues reconstructed from one case; the task is to find the article
it came from (grade 2) or a syndicated near-copy (grade 1); grade >= 1 counts as relevant.
The data is for measuring only: it is ingested into a store under the data directory that is
never shipped, and nothing here is trained on it.
"""

from __future__ import annotations

import csv
import json
import random
import time
from pathlib import Path

from evals.bench import percentile, print_table
from rag.settings import Settings

DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fraud_news"


def load_queries(root: Path) -> list[dict]:
    with open(root / "queries_dev.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_qrels(root: Path) -> dict[str, set[str]]:
    rel: dict[str, set[str]] = {}
    with open(root / "qrels_dev.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if int(row["grade"]) >= 1:
                rel.setdefault(row["query_id"], set()).add(row["doc_id"])
    return rel


def score_ranking(ranked: list[str], relevant: set[str], k: int = 10) -> tuple[float, float, float]:
    """(Hit@1, Hit@k, MRR@k) for one query."""
    first = next((i for i, d in enumerate(ranked[:k]) if d in relevant), None)
    return (1.0 if first == 0 else 0.0, 1.0 if first is not None else 0.0, 1.0 / (first + 1) if first is not None else 0.0)


def ensure_store(settings: Settings, root: Path):
    from ingest.loaders import LoadOptions
    from ingest.pipeline import ingest_paths
    from rag.service import Service

    svc = Service(settings)
    stats = ingest_paths(svc.kb, [root / "corpus.jsonl"], LoadOptions(kind="case"))
    if stats.failed:
        raise RuntimeError(f"fraud_news 导入失败：{stats.failed[0]}")
    return svc, stats


def run(settings: Settings, root: Path = DEFAULT_DIR, n_queries: int = 300, seed: int = 13,
        modes: tuple[str, ...] = ("keyword", "dense", "hybrid")) -> dict[str, dict[str, float]]:
    if not (root / "corpus.jsonl").exists():
        raise FileNotFoundError(f"找不到外部评测数据 {root}（应在 ../shared/data/fraud_news）")
    store = settings.data_dir / "bench" / "fraud_news"
    settings = settings.model_copy(update={"store": store})
    t0 = time.perf_counter()
    svc, stats = ensure_store(settings, root)
    print(f"store {store}: {svc.kb.ledger.chunk_count()} chunks "
          f"({stats.chunks_embedded} embedded now, {time.perf_counter() - t0:.1f}s)")
    qrels = load_qrels(root)
    queries = [q for q in load_queries(root) if q["query_id"] in qrels]
    if 0 < n_queries < len(queries):
        queries = random.Random(seed).sample(queries, n_queries)
    results: dict[str, dict[str, float]] = {}
    for mode in modes:
        h1 = h10 = mrr = 0.0
        times = []
        for q in queries:
            t = time.perf_counter()
            hits = svc.retriever.search(q["text"], k=10, mode=mode, max_per_doc=1)  # type: ignore[arg-type]
            times.append((time.perf_counter() - t) * 1000)
            a, b, c = score_ranking([h.doc_id for h in hits], qrels[q["query_id"]])
            h1, h10, mrr = h1 + a, h10 + b, mrr + c
        n = len(queries)
        results[mode] = {"hit@1": h1 / n, "hit@10": h10 / n, "mrr@10": mrr / n,
                         "p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95), "n": n}
    print_table(
        f"fraud_news retrieval, {len(queries)} queries (seed {seed}), document level, grade >= 1 relevant",
        ["mode", "Hit@1", "Hit@10", "MRR@10", "p50 ms", "p95 ms"],
        [[m, r["hit@1"], r["hit@10"], r["mrr@10"], r["p50_ms"], r["p95_ms"]] for m, r in results.items()],
    )
    return results
