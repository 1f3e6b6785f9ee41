"""线索对碰: share files carry keyed digests only; matching finds exactly the shared identifiers."""

from __future__ import annotations

import json

import pytest

from rag.share import ShareError, digest, export_share, match_share, read_share, write_share

KEY = "alliance-test-key-0123456789"
RAW = ["13600443487", "dh_fawu01", "6258999400528021", "dh@163.com", "13900001111", "lonely_wx9", "13711112222"]
OURS = [
    {"id": "A-1", "text": "代理人电话13600443487，微信dh_fawu01，收款卡6258 9994 0052 8021。", "label": "proxy_rights",
     "date": "2024-03-02"},
    {"id": "A-2", "text": "邮箱DH@163.com，另一个号码13900001111。", "label": "proxy_rights", "date": "2024-04-11"},
]
THEIRS = [
    {"id": "B-1", "text": "对方手机+86 136 0044 3487，加V：DH_FAWU01。", "label": "debt_evasion", "date": "2024-05-20"},
    {"id": "B-2", "text": "邮箱dh@163.com，微信 lonely_wx9，电话13711112222。", "label": "impersonation", "date": "2024-06-01"},
]
SHARED = {"13600443487", "dh_fawu01", "dh@163.com"}


def test_export_refuses_an_empty_or_short_key():
    with pytest.raises(ShareError, match="XS_ALLIANCE_KEY"):
        export_share(OURS, "")
    with pytest.raises(ShareError, match="过短"):
        export_share(OURS, "short")


def test_share_file_holds_digests_labels_and_months_but_no_raw_value(tmp_path):
    path = write_share(export_share(OURS, KEY, "机构A"), tmp_path / "a.json")
    text = path.read_text(encoding="utf-8")
    share = json.loads(text)
    assert share["format"] == "xiansuo-share" and share["institution"] == "机构A" and share["count"] == 5
    assert {tuple(sorted(e)) for e in share["entries"]} == {("h", "label", "month", "n", "type")}
    assert {e["month"] for e in share["entries"]} == {"2024-03", "2024-04"}
    for raw in [*RAW, "6258 9994 0052 8021", "A-1", "代理人"]:
        assert raw.lower() not in text.lower()
    assert all(len(e["h"]) == 64 for e in share["entries"])


def test_digests_depend_on_the_key():
    assert digest(b"k" * 16, "mobile", "13600443487") != digest(b"j" * 16, "mobile", "13600443487")


def test_matching_finds_exactly_the_shared_identifiers_across_spellings(tmp_path):
    path = write_share(export_share(OURS, KEY, "机构A"), tmp_path / "a.json")
    report = match_share(THEIRS, read_share(path), KEY, "机构B")
    assert {m["normalized"] for m in report["matches"]} == SHARED
    assert report["their_institution"] == "机构A" and report["our_identifiers"] == 5
    mobile = next(m for m in report["matches"] if m["type"] == "mobile")
    assert mobile["ours"] == {"cases": ["B-1"], "labels": {"debt_evasion": 1}, "months": ["2024-05"]}
    assert mobile["theirs"] == {"count": 1, "labels": {"proxy_rights": 1}, "months": ["2024-03"]}
    text = json.dumps(report, ensure_ascii=False)
    assert "13900001111" not in text and "6258999400528021" not in text  # theirs only: never revealed


def test_a_different_key_or_a_foreign_file_is_refused(tmp_path):
    share = export_share(OURS, KEY)
    with pytest.raises(ShareError, match="密钥"):
        match_share(THEIRS, share, KEY + "x")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}', encoding="utf-8")
    with pytest.raises(ShareError, match="不是线索对碰共享文件"):
        read_share(bad)
    bad.write_text("not json", encoding="utf-8")
    with pytest.raises(ShareError, match="JSON"):
        read_share(bad)
    with pytest.raises(ShareError, match="找不到"):
        read_share(tmp_path / "missing.json")


def test_cli_share_export_and_match(tmp_path, monkeypatch, capsys, run_cli):
    ours, theirs = tmp_path / "ours.jsonl", tmp_path / "theirs.jsonl"
    ours.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in OURS), encoding="utf-8")
    theirs.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in THEIRS), encoding="utf-8")
    monkeypatch.setenv("XS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("XS_ALLIANCE_KEY", raising=False)
    assert run_cli(["share", "export", "--input", str(ours), "--output", str(tmp_path / "a.json")]) == 1
    assert "XS_ALLIANCE_KEY" in capsys.readouterr().err and not (tmp_path / "a.json").exists()
    monkeypatch.setenv("XS_ALLIANCE_KEY", KEY)
    assert run_cli(["share", "export", "--input", str(ours), "--output", str(tmp_path / "a.json"),
                     "--institution", "机构A"]) == 0
    assert "5 条摘要" in capsys.readouterr().out
    assert run_cli(["share", "match", str(tmp_path / "a.json"), "--input", str(theirs)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {m["normalized"] for m in report["matches"]} == SHARED


def test_two_generated_institutions_match_exactly():
    from evals.leads_bench import bench_share

    r = bench_share(seed=7)
    assert r["planted"] == r["held_by_both"] == r["found"] > 10
    assert r["revealed_not_shared"] == [] and r["raw_in_file"] == [] and r["wrong_key_refused"]
