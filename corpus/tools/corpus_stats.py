#!/usr/bin/env python3
"""Print a summary of the sample knowledge base and the eval sets.

    python corpus/tools/corpus_stats.py [--corpus DIR] [--sets DIR]

Counts per kind and label, text lengths (min / median / max characters), the
largest 5-character shingle overlap between two documents that do not share a
template_id, and the size of every eval set.  Uses the same loader and shingle
rule as tests/test_corpus.py (corpus/tools/corpus_check.py).
"""
from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_check as cc  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def print_counts(docs: list[dict]) -> None:
    print("documents per kind and label")
    per_kind = Counter(d.get("kind") for d in docs)
    for kind in ("regulation", "script", "case"):
        labels = Counter(d.get("label") for d in docs if d.get("kind") == kind and d.get("label"))
        detail = "  ".join(f"{label} {labels[label]}" for label in cc.LABELS if labels[label])
        print(f"  {kind:<11}{per_kind.get(kind, 0):>5}   {detail}")
    templates = Counter(d["template_id"] for d in docs if d.get("template_id"))
    if templates:
        print("  shared templates: " + ", ".join(f"{t} ×{n}" for t, n in sorted(templates.items())))


def print_lengths(docs: list[dict]) -> None:
    print("text length in characters (min / median / max)")
    for kind in ("regulation", "script", "case"):
        lengths = [len(d["text"]) for d in docs if d.get("kind") == kind]
        if lengths:
            print(f"  {kind:<11}{min(lengths):>6} {statistics.median(lengths):>8.0f} {max(lengths):>6}")


def print_overlap(docs: list[dict]) -> None:
    top = cc.largest_overlap(docs)
    if top is None:
        print("largest shingle overlap: fewer than two documents")
        return
    score, a, b = top
    verdict = "over the limit" if score > cc.MAX_OVERLAP else "within the limit"
    print(f"largest {cc.SHINGLE_N}-char shingle overlap without a shared template_id: "
          f"{score:.3f} ({a} ~ {b}), {verdict} of {cc.MAX_OVERLAP}")


def print_eval_sets(sets_dir: Path) -> None:
    print(f"eval sets in {sets_dir}")
    for path in sorted(sets_dir.glob("*.json*")):
        if path.suffix != ".jsonl":
            print(f"  {path.name:<22} (JSON document)")
            continue
        rows = cc.load_jsonl(path)
        extra = ""
        if any("answerable" in r for r in rows):
            yes = sum(r.get("answerable") is True for r in rows)
            extra = f"answerable {yes}, unanswerable {len(rows) - yes}"
        elif any("kind" in r for r in rows):
            extra = ", ".join(f"{k} {n}" for k, n in sorted(Counter(r.get("kind") for r in rows).items()))
        elif any("label" in r for r in rows):
            extra = ", ".join(f"{k} {n}" for k, n in sorted(Counter(r.get("label") for r in rows).items()))
        print(f"  {path.name:<22}{len(rows):>5}   {extra}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--sets", type=Path, default=ROOT / "evals" / "sets")
    args = parser.parse_args(argv)
    try:
        docs = cc.load_corpus(args.corpus)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print_counts(docs)
    print_lengths(docs)
    print_overlap(docs)
    if args.sets.is_dir():
        print_eval_sets(args.sets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
