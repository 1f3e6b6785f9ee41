"""线索对碰: matching leads between alliance members without revealing personal data.

A share file carries, for every identifier in an institution's cases, only a keyed digest
``HMAC-SHA256(alliance key, type + normalized value)`` with the case label and month. Without
the key a digest cannot be tested against a list of phone numbers; with it, a member can only
learn which of *its own* identifiers the other member has also seen. Raw values, case ids and
texts never leave: importing another member's file reports the matches against our own cases.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from rag.leads import lead_identifiers

FORMAT = "xiansuo-share"
VERSION = 1
MIN_KEY_CHARS = 16


class ShareError(ValueError):
    """A share file cannot be written or read; the message says why and what to do."""


def _key(secret) -> bytes:
    value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret or "")
    if not value:
        raise ShareError("未配置联盟密钥（XS_ALLIANCE_KEY），拒绝导出或比对：没有密钥的摘要可以被穷举还原出手机号等个人信息。"
                         "请向联盟获取共用密钥后在设置中配置。")
    if len(value) < MIN_KEY_CHARS:
        raise ShareError(f"联盟密钥过短（{len(value)} 个字符，至少 {MIN_KEY_CHARS} 个）：过短的密钥可被穷举，请使用联盟下发的完整密钥。")
    return value.encode("utf-8")


def digest(key: bytes, kind: str, normalized: str) -> str:
    return hmac.new(key, f"{kind}\x1f{normalized}".encode("utf-8"), hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """A fingerprint of the key, so two members can see they use the same one (it reveals nothing else)."""
    return hmac.new(key, b"xiansuo-share key id", hashlib.sha256).hexdigest()[:16]


def _month(item: dict[str, Any]) -> str:
    return str(item.get("date") or "")[:7]


def export_share(items: Iterable[dict[str, Any]], secret, institution: str = "") -> dict[str, Any]:
    """The share file for ``items`` ({"id","text", optional "label","date"}): digests, labels, months."""
    key = _key(secret)
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for item in items:
        for e in {(e.type, e.normalized) for e in lead_identifiers(str(item.get("text") or ""))}:
            counts[(digest(key, *e), e[0], str(item.get("label") or ""), _month(item))] += 1
    entries = [{"h": h, "type": t, "label": lab, "month": m, "n": n} for (h, t, lab, m), n in sorted(counts.items())]
    return {"format": FORMAT, "version": VERSION, "institution": institution, "key_id": key_id(key),
            "created": datetime.now().strftime("%Y-%m-%d"), "count": len(entries), "entries": entries}


def write_share(share: dict[str, Any], path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(share, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def read_share(path: Path | str) -> dict[str, Any]:
    try:
        share = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShareError(f"找不到共享文件 {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShareError(f"共享文件 {path} 不是合法的 JSON：{exc}") from None
    return validate_share(share, str(path))


def validate_share(share: Any, where: str = "共享文件") -> dict[str, Any]:
    if not isinstance(share, dict) or share.get("format") != FORMAT:
        raise ShareError(f"{where} 不是线索对碰共享文件（format 应为 {FORMAT}）")
    if share.get("version") != VERSION:
        raise ShareError(f"{where} 的版本为 {share.get('version')}，本系统只支持版本 {VERSION}")
    entries = share.get("entries")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("h"), str) for e in entries):
        raise ShareError(f"{where} 的 entries 格式错误：应为 [{{\"h\",\"type\",\"label\",\"month\"}}]")
    return share


def match_share(items: Iterable[dict[str, Any]], theirs: dict[str, Any], secret,
                institution: str = "") -> dict[str, Any]:
    """Which of our identifiers another member has also seen, with their labels and months."""
    key = _key(secret)
    theirs = validate_share(theirs)
    if theirs.get("key_id") != key_id(key):
        raise ShareError("对方共享文件使用的联盟密钥与本机配置的不一致（key_id 不同），无法比对：请确认双方使用同一把联盟密钥。")
    ours: dict[str, dict[str, Any]] = {}
    for item in items:
        for e in lead_identifiers(str(item.get("text") or "")):
            h = digest(key, e.type, e.normalized)
            row = ours.setdefault(h, {"type": e.type, "normalized": e.normalized, "cases": [], "labels": Counter(),
                                      "months": set()})
            if item["id"] not in row["cases"]:
                row["cases"].append(str(item["id"]))
                row["labels"][str(item.get("label") or "")] += 1
                row["months"].add(_month(item))
    their_rows: dict[str, dict[str, Any]] = defaultdict(lambda: {"labels": Counter(), "months": set(), "count": 0})
    for e in theirs["entries"]:
        if e["h"] in ours:
            row = their_rows[e["h"]]
            row["labels"][str(e.get("label") or "")] += int(e.get("n") or 1)
            row["months"].add(str(e.get("month") or ""))
            row["count"] += int(e.get("n") or 1)
    matches = []
    for h, their in sorted(their_rows.items(), key=lambda kv: (-kv[1]["count"], ours[kv[0]]["normalized"])):
        mine = ours[h]
        matches.append({
            "type": mine["type"], "normalized": mine["normalized"],
            "ours": {"cases": sorted(mine["cases"]), "labels": _clean(mine["labels"]), "months": sorted(mine["months"] - {""})},
            "theirs": {"count": their["count"], "labels": _clean(their["labels"]), "months": sorted(their["months"] - {""})},
        })
    return {"institution": institution, "their_institution": theirs.get("institution", ""),
            "our_identifiers": len(ours), "their_entries": len(theirs["entries"]), "matches": matches}


def _clean(labels: Counter[str]) -> dict[str, int]:
    return {k or "未标注": v for k, v in labels.most_common()}
