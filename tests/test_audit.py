"""The audit trail: hash chain, tamper detection, concurrent writers, no personal data."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import stat
import threading

import pytest

from rag.audit import GENESIS, AuditLog, line_hash, verify
from rag.pii import find_unmasked

PHONE, ID_CARD = "13812345678", "110101199003074514"


def write(log: AuditLog, n: int, **extra) -> None:
    for i in range(n):
        log.record(user="wang", role="investigator", action="qa.ask", input=f"问题 {i}", output=f"回答 {i}",
                   doc_ids=[f"case-{i:04d}"], prompt={"prompt_id": "answer", "prompt_version": 1, "prompt_sha256": "ab" * 32},
                   backend="offline", **extra)


def lines(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


@pytest.fixture
def log(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "audit" / "audit.jsonl")


def test_entries_carry_the_required_fields_and_form_a_chain(log):
    write(log, 3)
    entries = list(log.entries())
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == GENESIS and entries[1]["prev"] == entries[0]["hash"]
    e = entries[0]
    assert {"ts", "user", "role", "action", "input_hash", "output_hash", "doc_ids", "prompt", "prompt_hash",
            "backend", "model", "outcome", "prev", "hash"} <= set(e)
    assert (e["user"], e["role"], e["action"], e["doc_ids"], e["prompt"]) == ("wang", "investigator", "qa.ask",
                                                                              ["case-0000"], "answer@v1")
    assert all(line_hash(x) == x["hash"] for x in entries)
    assert verify(log.path).ok and verify(log.path).lines == 3
    assert stat.S_IMODE(os.stat(log.path).st_mode) == 0o600


def test_input_and_output_are_keyed_hashes_not_plain_ones(log):
    """A phone number's plain sha256 could be found by trying all numbers; the key prevents it."""
    entry = log.record(user="li", role="frontline", action="qa.ask", input=PHONE, output="好")
    assert entry["input_hash"] == log.fingerprint(PHONE) != hashlib.sha256(PHONE.encode()).hexdigest()
    assert hashlib.sha256(PHONE.encode()).hexdigest() not in log.path.read_text()
    assert AuditLog(log.path).fingerprint(PHONE) == entry["input_hash"]  # the key persists


def test_no_digest_can_pass_for_an_identifier(log):
    """Hex digests often hold runs like 14773344351 (a mobile number to a scanner); base32 never does."""
    for i in range(300):
        log.record(user="li", role="frontline", action="qa.ask", input=f"问题{i}", output=f"回答{i}",
                   prompt={"prompt_id": "answer", "prompt_version": 1, "prompt_sha256": hashlib.sha256(bytes([i % 256])).hexdigest()})
    for path in (log.path, log.path.with_name("audit.jsonl.head")):
        assert find_unmasked(path.read_text(encoding="utf-8")) == []
    assert verify(log.path).ok


def test_personal_data_never_appears_in_the_log(log):
    log.record(user=PHONE, role="frontline", action="qa.ask", input=f"我的身份证 {ID_CARD}", output=f"电话 {PHONE}",
               detail=f"客户 {PHONE} 身份证 {ID_CARD} 邮箱 zhang.san@example.com", doc_ids=[PHONE])
    text = log.path.read_text(encoding="utf-8")
    assert PHONE not in text and ID_CARD not in text and find_unmasked(text) == []


@pytest.mark.parametrize("tamper, bad", [
    ("edit", 3),      # a field changed in line 3
    ("rehash", 4),    # line 3 changed and its own hash recomputed: line 4's prev no longer matches
    ("delete", 3),    # line 3 removed: the old line 4 now sits at 3 with the wrong seq
    ("swap", 2),      # lines 2 and 3 exchanged
    ("insert", 4),    # a well-formed forged line inserted as line 3: the old line 3, now 4, fails
    ("truncate", 5),  # the last line cut off: the head file still says 5
    ("garble", 2),    # not JSON any more
])
def test_verify_names_the_first_edited_or_deleted_line(log, tamper, bad):
    write(log, 5)
    rows = lines(log.path)
    entries = [json.loads(r) for r in rows]
    if tamper == "edit":
        rows[2] = rows[2].replace('"qa.ask"', '"kb.search"')
    elif tamper == "rehash":
        entries[2]["user"] = "someone-else"
        entries[2]["hash"] = line_hash(entries[2])
        rows[2] = json.dumps(entries[2], ensure_ascii=False) + "\n"
    elif tamper == "delete":
        del rows[2]
    elif tamper == "swap":
        rows[1], rows[2] = rows[2], rows[1]
    elif tamper == "insert":
        forged = dict(entries[2], action="login")
        forged["hash"] = line_hash(forged)
        rows.insert(2, json.dumps(forged, ensure_ascii=False) + "\n")
    elif tamper == "truncate":
        rows = rows[:-1]
    elif tamper == "garble":
        rows[1] = rows[1][:40] + "\n"
    log.path.write_text("".join(rows), encoding="utf-8")
    verdict = verify(log.path)
    assert not verdict.ok and verdict.bad_line == bad, verdict
    assert f"第 {bad} 行" in verdict.message(log.path)


def test_the_check_can_pass_again_after_appending(log):
    write(log, 2)
    assert verify(log.path).ok
    write(log, 2)
    assert verify(log.path).ok and verify(log.path).lines == 4


def test_concurrent_writers_in_threads_keep_the_chain(log):
    threads = [threading.Thread(target=write, args=(log, 25)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    verdict = verify(log.path)
    assert verdict.ok and verdict.lines == 200


def _child(path: str) -> None:
    write(AuditLog(path), 20)


def test_concurrent_writers_in_processes_keep_the_chain(log):
    log.record(user="a", role="admin", action="login")  # create the key before the children start
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_child, args=(str(log.path),)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    verdict = verify(log.path)
    assert verdict.ok and verdict.lines == 61


def test_cli_verify_exit_codes(log, capsys):
    from rag.cli import main

    write(log, 3)
    assert main(["audit", "verify", "--file", str(log.path)]) == 0
    assert "共 3 条记录" in capsys.readouterr().out
    rows = lines(log.path)
    log.path.write_text("".join(rows[:1] + rows[2:]), encoding="utf-8")
    assert main(["audit", "verify", "--file", str(log.path)]) == 1
    assert "第 2 行校验失败" in capsys.readouterr().err
