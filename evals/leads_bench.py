"""``python -m evals bench drafts|leads|share``: the figures issue #6 asks for.

- drafts: on ``evals/sets/draft.jsonl`` with the offline engine, the share of items whose draft
  contains every must-include fact and breaks none of its must-not rules; then, as proof that the
  checker can fail, each item's draft with a planted violation of each of its must-not rules.
- leads: identifier precision/recall on ``evals/sets/leads.jsonl`` (and on the corpus cases'
  ``identifiers`` field, read only for scoring), the adjusted Rand index of the recovered groups
  against ``evals/sets/gangs.json``, and how many lead requests get exactly their expected groups.
  Grouping reads only the case texts.
- share: two generated institutions with planted shared identifiers written in different
  spellings; the share file must find every planted one, reveal none other, and hold no raw value.
"""

from __future__ import annotations

import json
import random
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from evals.scorers import IDENTIFIER_TYPES

ROOT = Path(__file__).resolve().parent.parent
SETS = ROOT / "evals" / "sets"
BENCH_KEY = "bench-alliance-key-0123456789"


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def corpus_cases() -> list[dict[str, Any]]:
    return [row for p in sorted((ROOT / "corpus" / "cases").glob("*.jsonl")) for row in _jsonl(p)]


# -- drafts --------------------------------------------------------------------------------------
VIOLATIONS = {
    "promise_waiver": "我们将为您全额减免全部利息和罚息。",
    "admit_fault": "经查，这是我司的失误，给您造成了损失。",
    "leak_pii": "我们已联系您的手机13912345678和身份证110101199003074573登记的地址。",
    "negotiate_with_agent": "我们已将您的合同和还款记录发送给贵司协商专员，请贵司确认方案。",
}
_POLICE_SENTENCE = re.compile(r"[^。\n]*(?:报警|报案|110|公安|派出所|96110)[^。\n]*[。]?")


def plant(text: str, rule: str) -> str:
    """``text`` with one violation of ``rule`` added (or, for police advice, taken out)."""
    if rule == "missing_police_advice":
        return _POLICE_SENTENCE.sub("", text)
    return text + "\n" + VIOLATIONS[rule]


def bench_drafts(settings, set_path: Path = SETS / "draft.jsonl") -> dict[str, Any]:
    from rag.service import Service

    svc = Service(settings, llm=None)
    if svc.kb.is_empty():
        from ingest.pipeline import ingest_paths

        print(f"知识库 {settings.store_dir} 为空：先把 corpus/regulations 载入（一次性）……")
        ingest_paths(svc.kb, [ROOT / "corpus" / "regulations"])
    rows = _jsonl(set_path)
    per_label: Counter[str] = Counter()
    passed_label: Counter[str] = Counter()
    failures, caught, planted = [], 0, 0
    start = time.perf_counter()
    for row in rows:
        result = svc.drafts.draft(row["complaint"], row["label"])
        missing = [m for m in row["must_include"] if m not in result.text]
        broken = [r for r in row["must_not"] if r in result.failed_rules]
        per_label[row["label"]] += 1
        if not missing and not broken:
            passed_label[row["label"]] += 1
        else:
            failures.append((row["id"], missing, broken))
        for rule in row["must_not"]:
            planted += 1
            checks = svc.drafts.check(plant(result.text, rule), row["complaint"], row["label"])
            caught += any(c["rule"] == rule and not c["passed"] for c in checks)
    seconds = time.perf_counter() - start
    return {"items": len(rows), "passed": sum(passed_label.values()), "per_label": per_label,
            "passed_label": passed_label, "failures": failures, "planted": planted, "caught": caught,
            "seconds": seconds}


# -- leads ---------------------------------------------------------------------------------------
def canon(kind: str, value: str) -> tuple[str, str]:
    """One spelling per identifier, whatever normaliser wrote it (ours or the eval set's)."""
    v = value.strip().lower()
    if kind in ("mobile", "landline", "bank_card", "qq", "id_card"):
        v = re.sub(r"[^0-9x*]", "", v)
        if kind == "mobile" and len(v) == 13 and v.startswith("86"):
            v = v[2:]
    elif kind == "url":
        v = re.sub(r"^(?:[a-z]+://)?(?:www\.)?", "", v.replace("[.]", ".")).rstrip("/")  # refanged
    return kind, v


def prf(tp: int, fp: int, fn: int) -> tuple[float, float]:
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def bench_leads(set_path: Path = SETS / "leads.jsonl", gangs_path: Path = SETS / "gangs.json") -> dict[str, Any]:
    from sklearn.metrics import adjusted_rand_score

    from rag.leads import INSTITUTION, LeadFinder

    finder = LeadFinder()
    cases = corpus_cases()
    leads = _jsonl(set_path)
    tp = fp = fn = 0
    misses = []
    for row in leads:
        text = row.get("text") or row["request"]
        got = {canon(e.type, e.normalized) for e in finder.identifiers(text)}
        want = {canon(e["type"], e["normalized"]) for e in row["expected_identifiers"]}
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
        if got != want:
            misses.append((row["id"], sorted(got - want), sorted(want - got)))
    c_tp = c_fp = c_fn = 0
    types = set(IDENTIFIER_TYPES)  # what links cases; amounts and dates are facts, not links
    for r in cases:  # the cases' identifiers field is read here only, for scoring
        got = {canon(e.type, e.normalized) for e in finder.identifiers(r["text"]) if e.type in types}
        want = {canon(i["type"], i["value"]) for i in r.get("identifiers", [])
                if i["type"] in types and not (i["type"] == "org" and INSTITUTION.search(i["value"]))}  # not leads
        c_tp, c_fp, c_fn = c_tp + len(got & want), c_fp + len(got - want), c_fn + len(want - got)
    start = time.perf_counter()
    grouped = finder.groups(cases)
    seconds = time.perf_counter() - start
    gangs = json.loads(gangs_path.read_text(encoding="utf-8"))["gangs"]
    truth = {m: g["gang_id"] for g in gangs for m in g["members"]}
    found = {m: g["id"] for g in grouped["groups"] for m in g["members"]}
    ids = [r["id"] for r in cases]
    ari = adjusted_rand_score([truth.get(i, i) for i in ids], [found.get(i, i) for i in ids])
    recovered = []
    for g in gangs:
        best = max(grouped["groups"], key=lambda x: len(set(x["members"]) & set(g["members"])), default=None)
        recovered.append((g["gang_id"], len(g["members"]), best["id"] if best else "-",
                          len(set(best["members"]) & set(g["members"])) if best else 0, best["size"] if best else 0))
    exact = 0
    wrong = []
    for row in leads:
        got = sorted(sorted(g["members"]) for g in finder.related(row.get("text") or row["request"], cases)["groups"])
        if got == sorted(row["expected_groups"]):
            exact += 1
        else:
            wrong.append(row["id"])
    return {"leads": len(leads), "p": prf(tp, fp, fn)[0], "r": prf(tp, fp, fn)[1], "counts": (tp, fp, fn),
            "misses": misses, "case_p": prf(c_tp, c_fp, c_fn)[0], "case_r": prf(c_tp, c_fp, c_fn)[1],
            "case_counts": (c_tp, c_fp, c_fn), "ari": ari, "groups": len(grouped["groups"]),
            "recovered": recovered, "exact": exact, "wrong": wrong, "cases": len(cases), "seconds": seconds}


# -- share ---------------------------------------------------------------------------------------
def _luhn(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def id_check(body17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a resident ID number."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, weights)) % 11]


def _id_number(rng: random.Random) -> str:
    body = f"{rng.choice(['110105', '310112', '440304', '330106'])}{rng.randint(1970, 2002)}" \
           f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    return body + id_check(body)


def _identifier(rng: random.Random, kind: str, n: int) -> tuple[str, list[str]]:
    """(canonical value, spellings that the texts may use)."""
    if kind == "mobile":
        v = f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(10**7, 10**8 - 1)}"
        return v, [v, f"{v[:3]} {v[3:7]} {v[7:]}", f"+86 {v}", f"{v[:3]}-{v[3:7]}-{v[7:]}"]
    if kind == "bank_card":
        v = _luhn("6217" + "".join(str(rng.randint(0, 9)) for _ in range(14)))
        return v, [v, " ".join(v[i:i + 4] for i in range(0, len(v), 4))]
    if kind == "id_card":
        v = _id_number(rng)
        return v, [v]
    if kind == "wechat":
        v = f"hq{n}_{''.join(rng.choice('abcdefghjk') for _ in range(5))}"
        return v, [v, v.upper(), v[0].upper() + v[1:]]
    if kind == "qq":
        v = str(rng.randint(10**8, 10**10))
        return v, [v]
    if kind == "email":
        v = f"zx{n}_{rng.randint(100, 999)}@163.com"
        return v, [v, v.upper()]
    v = f"kefu{n}-{''.join(rng.choice('abcdefgh') for _ in range(4))}.top"
    return v, [v, f"https://{v}", f"https://www.{v}/"]


_CUE = {"mobile": "对方手机{}", "bank_card": "让我转账到{}", "id_card": "用了身份证{}", "wechat": "加微信{}",
        "qq": "QQ{}", "email": "邮箱{}", "url": "让我登录{}"}


def make_institutions(seed: int = 2024, cases: int = 120, shared: int = 24, own: int = 80):
    """Two institutions' complaints. Returns (items_a, items_b, planted {(type, value)}, every raw spelling)."""
    rng = random.Random(seed)
    kinds = list(_CUE)
    pool = [(k, *_identifier(rng, k, n)) for n, k in enumerate(rng.choice(kinds) for _ in range(shared + 2 * own))]
    common, only_a, only_b = pool[:shared], pool[shared:shared + own], pool[shared + own:]

    def institution(prefix: str, mine: list) -> list[dict[str, Any]]:
        source = common + mine
        order = [*source, *(rng.choice(source) for _ in range(max(0, cases - len(source))))]
        rng.shuffle(order)
        items = []
        for i in range(0, len(order), 2):
            parts = [_CUE[k].format(rng.choice(spellings)) for k, _v, spellings in order[i:i + 2]]
            label = rng.choice(["impersonation", "proxy_rights", "loan_broker", "credit_repair"])
            items.append({"id": f"{prefix}-{len(items) + 1:04d}", "label": label,
                          "date": f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                          "text": "我接到陌生来电，" + "，".join(parts) + "，后来发现被骗了。"})
        return items

    raw = {s for _k, _v, spellings in pool for s in spellings}
    return institution("A", only_a), institution("B", only_b), {(k, v) for k, v, _s in common}, raw


def bench_share(seed: int = 2024) -> dict[str, Any]:
    from rag.leads import lead_identifiers
    from rag.share import ShareError, export_share, match_share, read_share, write_share

    items_a, items_b, planted, raw = make_institutions(seed)
    # What each side really holds, by our own extraction; planted = the identifiers both hold.
    held_a = {canon(e.type, e.normalized) for it in items_a for e in lead_identifiers(it["text"])}
    held_b = {canon(e.type, e.normalized) for it in items_b for e in lead_identifiers(it["text"])}
    planted = {canon(k, v) for k, v in planted}
    with tempfile.TemporaryDirectory(prefix="xs-share-") as tmp:
        path = write_share(export_share(items_a, BENCH_KEY, "机构A"), Path(tmp) / "a.json")
        text = path.read_text(encoding="utf-8")
        report = match_share(items_b, read_share(path), BENCH_KEY, "机构B")
        try:
            match_share(items_b, read_share(path), BENCH_KEY[::-1], "机构B")
            wrong_key_refused = False
        except ShareError:
            wrong_key_refused = True
    found = {canon(m["type"], m["normalized"]) for m in report["matches"]}
    digits = {re.sub(r"\D", "", s) for s in raw if len(re.sub(r"\D", "", s)) >= 5}
    leaked = sorted(s for s in raw | digits if s.lower() in text.lower())
    return {"a_cases": len(items_a), "b_cases": len(items_b), "a_ids": len(held_a), "b_ids": len(held_b),
            "planted": len(planted), "held_by_both": len(held_a & held_b), "found": len(found & planted),
            "revealed_not_shared": sorted(found - planted), "missed": sorted(planted - found),
            "raw_in_file": leaked, "entries": report["their_entries"], "wrong_key_refused": wrong_key_refused}


# -- printing ------------------------------------------------------------------------------------
def run(what: str, settings) -> int:
    if what == "drafts":
        r = bench_drafts(settings)
        print(f"\ndraft set: {r['passed']}/{r['items']} items fully pass (offline engine) = {r['passed'] / r['items']:.1%}"
              f"  [{r['seconds']:.1f} s]")
        for label, n in sorted(r["per_label"].items()):
            print(f"  {label:16s} {r['passed_label'][label]}/{n}")
        for item, missing, broken in r["failures"]:
            print(f"  FAIL {item}: missing {missing} broken {broken}")
        print(f"checker on planted violations of each item's must-not rules: caught {r['caught']}/{r['planted']}")
        return 0 if r["passed"] / r["items"] >= 0.9 and r["caught"] == r["planted"] else 1
    if what == "leads":
        r = bench_leads()
        print(f"\nidentifiers on the leads set ({r['leads']} requests): precision {r['p']:.3f}  recall {r['r']:.3f}"
              f"  (tp/fp/fn {r['counts']})")
        for item, extra, missed in r["misses"]:
            print(f"  {item}: extra {extra} missed {missed}")
        print(f"identifiers on the {r['cases']} corpus cases: precision {r['case_p']:.3f}  recall {r['case_r']:.3f}"
              f"  (tp/fp/fn {r['case_counts']})")
        print(f"groups from text only: {r['groups']} groups in {r['seconds']:.2f} s; "
              f"adjusted Rand index vs gangs.json = {r['ari']:.4f}")
        for gang, size, group, overlap, gsize in r["recovered"]:
            print(f"  {gang} ({size} cases) -> {group}: {overlap} shared, group size {gsize}")
        print(f"lead requests answered with exactly the expected groups: {r['exact']}/{r['leads']}"
              + (f"  (wrong: {', '.join(r['wrong'])})" if r["wrong"] else ""))
        ok = min(r["p"], r["r"]) >= 0.97 and r["ari"] >= 0.9
        return 0 if ok else 1
    r = bench_share()
    print(f"\nshare files: institution A {r['a_cases']} cases / {r['a_ids']} identifiers, "
          f"B {r['b_cases']} cases / {r['b_ids']} identifiers, planted shared {r['planted']} "
          f"(held by both per extraction: {r['held_by_both']})")
    print(f"  found {r['found']}/{r['planted']} planted; revealed not shared: {len(r['revealed_not_shared'])}; "
          f"raw values in A's file: {len(r['raw_in_file'])}; entries {r['entries']}; "
          f"wrong key refused: {r['wrong_key_refused']}")
    for x in r["missed"]:
        print(f"  MISSED {x}")
    for x in r["revealed_not_shared"]:
        print(f"  REVEALED {x}")
    ok = r["found"] == r["planted"] and not r["revealed_not_shared"] and not r["raw_in_file"] and r["wrong_key_refused"]
    return 0 if ok else 1
