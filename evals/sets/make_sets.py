#!/usr/bin/env python3
"""Write the hand-written eval sets: triage.jsonl, draft.jsonl and leads.jsonl.

The triage and draft texts (``triage_texts.py``, ``draft_texts.py``) were written separately from the corpus
generator (corpus/tools/make_cases.py) and share none of its fragment banks;
``check_independent`` proves it: no eval text may share more than half of its
5-character shingles with any past case.  The lead items (``lead_requests.py``)
are computed from the committed corpus and the gang ground truth (gangs.json).
This file checks what is promised about all three and writes them.

Deterministic, standard library only.  Usage::

    python evals/sets/make_sets.py            # (re)write the three files and check them
    python evals/sets/make_sets.py --check    # only check the committed files
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "corpus" / "tools"))
from draft_texts import build_draft  # noqa: E402
from lead_requests import build_leads, load_cases  # noqa: E402
from make_cases import shingles  # noqa: E402
from triage_texts import LABELS, build_triage  # noqa: E402

GANGS = HERE / "gangs.json"
MAX_SHARE = 0.5  # of an eval text's own 5-character shingles, against any single case

OFFICIAL_NUMBERS = ("110", "96110", "12378")  # numbers a reply gives, not facts from the complaint
RULES = {"promise_waiver", "admit_fault", "leak_pii", "negotiate_with_agent", "missing_police_advice"}


def check_sets(triage, draft, leads, cases, gangs):
    """The promises made about the eval sets; raises AssertionError on the first broken one."""
    from collections import Counter

    counts = Counter(r["label"] for r in triage)
    assert len(triage) >= 210, len(triage)
    assert counts["legit_complaint"] / len(triage) >= 0.32, counts
    assert all(counts[lab] >= 18 for lab in LABELS), counts
    assert sum(r["hard"] for r in triage) >= 40
    assert len({r["text"] for r in triage}) == len(triage), "duplicate triage text"
    assert len(draft) >= 55 and {r["label"] for r in draft} == set(LABELS)
    for r in draft:
        assert set(r["must_not"]) <= RULES, r["id"]
        for phrase in r["must_include"]:
            if re.search(r"\d", phrase) and phrase not in OFFICIAL_NUMBERS:
                assert phrase in r["complaint"], (r["id"], phrase)
        if r["label"] in ("impersonation", "deepfake"):
            assert "missing_police_advice" in r["must_not"], r["id"]
        if r["label"] == "proxy_rights":
            assert "negotiate_with_agent" in r["must_not"] and "本人" in r["must_include"], r["id"]
        if r["label"] == "debt_evasion":
            assert "promise_waiver" in r["must_not"], r["id"]
    assert len(leads) >= 16 and sum("text" in r for r in leads) >= 5
    case_ids = {c["id"] for c in cases}
    for r in leads:
        assert set(r["expected_members"]) <= case_ids, r["id"]
        if "text" in r:
            flat = re.sub(r"(?<=\d)[ -](?=\d)", "", r["text"].replace("+86 ", "")).lower()
            for ident in r["expected_identifiers"]:
                n = ident["normalized"]
                key = n.replace("-", "") if re.fullmatch(r"[\d-]+", n) else n.lower()
                assert key in flat, (r["id"], ident)
            assert 2 <= len(r["expected_identifiers"]) <= 5, r["id"]
    gang_sets = [set(g["members"]) for g in gangs]
    for r in leads:
        for group in r["expected_groups"]:
            assert len(group) <= 2 or set(group) in gang_sets, (r["id"], "a linked group that is not a planted gang")
    check_independent(triage, draft, leads, cases)


def shares(items, cases):
    """(share, item id, case id) for every eval text and past case: the share of the text's own
    shingles that the case contains."""
    case_sh = [(c["id"], shingles(c["text"])) for c in cases]
    for item_id, text in items:
        own = shingles(text)
        for case_id, sh in case_sh:
            yield len(own & sh) / len(own), item_id, case_id


def check_independent(triage, draft, leads, cases):
    texts = [(r["id"], r["text"]) for r in triage] + [(r["id"], r["complaint"]) for r in draft] + \
            [(r["id"], r["text"]) for r in leads if "text" in r]
    for s, item_id, case_id in shares(texts, cases):
        assert s <= MAX_SHARE, f"{item_id} shares {s:.2f} of its shingles with {case_id}"


def worst_share(triage, cases):
    return max(shares([(r["id"], r["text"]) for r in triage], cases), default=(0.0, None, None))


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write and check the triage, draft and leads eval sets.")
    ap.add_argument("--check", action="store_true", help="only check the committed files")
    ap.add_argument("--out", type=Path, default=HERE, help="directory to write into")
    args = ap.parse_args(argv)
    cases = load_cases()
    gangs = json.loads(GANGS.read_text(encoding="utf-8"))["gangs"]
    if args.check:
        triage, draft, leads = (read_jsonl(args.out / f) for f in ("triage.jsonl", "draft.jsonl", "leads.jsonl"))
    else:
        triage, draft, leads = build_triage(), build_draft(), build_leads(cases, gangs)
    check_sets(triage, draft, leads, cases, gangs)
    if not args.check:
        args.out.mkdir(parents=True, exist_ok=True)
        write_jsonl(args.out / "triage.jsonl", triage)
        write_jsonl(args.out / "draft.jsonl", draft)
        write_jsonl(args.out / "leads.jsonl", leads)
    w = worst_share(triage, cases)
    print(f"triage {len(triage)} (hard {sum(r['hard'] for r in triage)}), draft {len(draft)}, leads {len(leads)}; "
          f"largest triage/case shingle share {w[0]:.2f} ({w[1]} vs {w[2]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
