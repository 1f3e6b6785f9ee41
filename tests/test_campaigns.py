"""Template campaign detection: MinHash + LSH over character shingles, summaries, planted clusters."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evals.campaign_data import make_campaign_set
from rag import campaigns as C
from rag.campaigns import Complaint, find_campaigns, pair_scores

TEMPLATE = ("本人{name}于{date}在青禾分期借款{amount}元，现全权委托鼎诚法务协商，联系电话13900441234。"
            "贵司长期暴力催收、骚扰亲友，综合年化超过法律保护上限，要求立即停止催收，减免全部利息罚息，只还本金分三十六期，"
            "否则将向监管部门集体投诉并诉诸媒体。")


def member(i: int) -> str:
    names = ["张某", "李女士", "王先生", "赵某某", "陈女士", "刘某"]
    return TEMPLATE.format(name=names[i % len(names)], date=f"2024年{i % 12 + 1}月{i % 27 + 1}日", amount=3000 + 700 * i)


OTHERS = [
    "我三月五日还款一千二百元被扣了两次，客服说七个工作日退回，到现在没有到账，请尽快处理。",
    "催收员给我单位前台打电话说我欠钱不还，我在单位很难堪，要求停止联系我的同事。",
    "账单里多了八十一元的会员费，我从来没有开通过会员，要求退还并说明原因。",
    "提前还款还要收违约金，合同里没有写清楚，我觉得不合理。",
]


def test_normalize_folds_digits_width_case_and_punctuation():
    assert C.normalize("ＡＢｃ１２３元，张三 2024年3月5日 打了 13800001111！") == "abc0元张三0年0月0日打了0"
    assert C.normalize("") == "" and C.normalize("，。！") == ""


def test_minhash_estimates_agree_with_datasketch_and_exact_jaccard():
    from datasketch import MinHash

    texts = [member(0), member(1), OTHERS[0], OTHERS[1]]
    hashes, offsets = C.shingle_hashes(texts)
    sig = C.minhash_signatures(hashes, offsets, num_perm=256)
    shingles = [{C.normalize(t)[i : i + 5] for i in range(len(C.normalize(t)) - 4)} for t in texts]
    ref = []
    for s in shingles:
        m = MinHash(num_perm=256, seed=3)
        m.update_batch([x.encode() for x in s])
        ref.append(m)
    bounds = np.r_[offsets, len(hashes)]
    for i, j in [(0, 1), (0, 2), (2, 3), (1, 3)]:
        exact = len(shingles[i] & shingles[j]) / len(shingles[i] | shingles[j])
        ours = float((sig[i] == sig[j]).mean())
        theirs = ref[i].jaccard(ref[j])
        assert abs(ours - exact) < 0.1 and abs(theirs - exact) < 0.1, (i, j, exact, ours, theirs)
        assert len(set(hashes[bounds[i]:bounds[i + 1]].tolist())) == len(shingles[i])  # one hash per shingle
    assert float((sig[0] == sig[1]).mean()) > 0.6 > float((sig[0] == sig[2]).mean())


def test_template_members_cluster_and_the_summary_shows_what_they_share():
    items = [Complaint(f"m{i}", member(i), f"2024-0{i + 1}-1{i}", ["12378热线", "网络投诉平台"][i % 2]) for i in range(6)]
    items += [Complaint(f"o{i}", t, "2024-05-01", "APP反馈") for i, t in enumerate(OTHERS)]
    found = find_campaigns(items, min_size=3)
    assert len(found) == 1
    c = found[0]
    assert sorted(c.members) == [f"m{i}" for i in range(6)] and c.size == 6
    assert (c.date_from, c.date_to) == ("2024-01-10", "2024-06-15")
    assert c.channels == {"12378热线": 3, "网络投诉平台": 3}
    assert "现全权委托鼎诚法务协商" in c.shared_text and "减免全部利息罚息" in c.shared_text
    rep = next(i.text for i in items if i.id == c.representative)
    assert all(rep[s:e] in member(3) for s, e in c.shared_spans)
    shared = {(d["type"], d["value"]) for d in c.identifiers}
    assert ("mobile", "13900441234") in shared and ("org", "鼎诚法务") in {(t, v[:4]) for t, v in shared}
    assert all(d["members"] >= 2 for d in c.identifiers)
    assert json.loads(json.dumps(c.to_dict(), ensure_ascii=False))["size"] == 6


def test_unrelated_short_and_empty_texts_do_not_cluster():
    items = [Complaint(str(i), t) for i, t in enumerate(["", "！！", "。", "好", "好的", *OTHERS])]
    assert find_campaigns(items, min_size=2) == []
    assert find_campaigns([Complaint("x", "一条")]) == []


def test_planted_campaigns_are_found_with_high_precision_and_recall():
    data = make_campaign_set(n_background=400, n_templates=8, seed=11)
    found = find_campaigns(data.items, min_size=2, summarize=False)
    s = pair_scores([c.members for c in found], data.planted)
    assert s["precision"] >= 0.95 and s["recall"] >= 0.95, s


def test_pair_scores_can_fail():
    truth = [["a", "b", "c"], ["d", "e"]]
    assert pair_scores(truth, truth) == {"precision": 1.0, "recall": 1.0, "predicted_pairs": 4, "true_pairs": 4}
    merged = pair_scores([["a", "b", "c", "d", "e"]], truth)
    assert merged["precision"] == 0.4 and merged["recall"] == 1.0
    split = pair_scores([["a", "b"], ["c"], ["d", "e"]], truth)
    assert split["precision"] == 1.0 and split["recall"] == 0.5


def test_embeddings_decide_the_grey_zone_and_are_computed_for_candidates_only():
    base = "".join(OTHERS)
    near = base[:50] + "完全不同的一段新内容写在这里用来降低重合程度，再补几句别的话凑够长度吧。" + base[50:85]
    texts = [base, near] + [f"第{i}条毫无关系的投诉内容，讲的是别的事情{'甲乙丙丁戊己庚辛'[i]}" for i in range(8)]
    hashes, offsets = C.shingle_hashes(texts)
    sig = C.minhash_signatures(hashes, offsets)
    j = float((sig[0] == sig[1]).mean())
    assert 0.2 <= j < 0.5, j  # a grey-zone pair
    calls: list[list[str]] = []

    def embed(batch, same=True):
        calls.append(batch)
        v = np.ones((len(batch), 4), dtype=np.float32) if same else np.eye(len(batch), 4, dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    roots, _, counts = C.cluster(texts, grey=0.2, embed=embed)
    assert roots[0] == roots[1] and counts["embedding"] >= 1
    assert len(calls) == 1 and set(calls[0]) <= {base, near}
    roots, _, _ = C.cluster(texts, grey=0.2, embed=lambda b: embed(b, same=False))
    assert roots[0] != roots[1]
    roots, _, _ = C.cluster(texts)  # no embeddings: MinHash alone keeps them apart
    assert roots[0] != roots[1]


@pytest.mark.parametrize("n", [0, 1])
def test_degenerate_inputs(n):
    assert find_campaigns([Complaint(str(i), member(i)) for i in range(n)]) == []


def test_campaigns_cli_reads_jsonl_and_prints_clusters(tmp_path, capsys):
    from rag.cli import main

    path = tmp_path / "in.jsonl"
    rows = [{"id": f"m{i}", "text": member(i), "date": "2024-01-0" + str(i + 1), "channel": "12378热线"} for i in range(4)]
    rows += [{"id": f"o{i}", "text": t} for i, t in enumerate(OTHERS)]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    assert main(["campaigns", "--input", str(path), "--min-size", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["complaints"] == 8 and len(out["campaigns"]) == 1
    assert sorted(out["campaigns"][0]["members"]) == ["m0", "m1", "m2", "m3"]
    assert main(["campaigns", "--input", str(path), "--threshold", "1.5"]) == 1
    assert "--threshold" in capsys.readouterr().err


def test_workbench_lists_campaigns_with_the_shared_passage_highlighted(tmp_path, settings, hash_embedder):
    from rag.service import Service
    from ui.triage import TriageHandlers

    path = tmp_path / "in.jsonl"
    rows = [{"id": f"m{i}", "text": member(i), "date": f"2024-0{i + 1}-01", "channel": "12378热线"} for i in range(4)]
    rows += [{"id": "o1", "text": OTHERS[0] + "<script>x</script>"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    h = TriageHandlers(Service(settings, embedder=hash_embedder, llm=None))
    html_out, export, status = h.campaigns(str(path), "text", 3)
    assert "模板投诉群 1：4 条" in html_out and "2024-01-01 至 2024-04-01" in html_out
    assert '<mark class="xs-flag">' in html_out and "13900441234" in html_out and "<script>" not in html_out
    assert "发现 1 个" in status and json.loads(open(export, encoding="utf-8").read())[0]["size"] == 4
