"""线索汇总: cases and complaints linked by the identifiers in their text and by shared templates.

The link graph (networkx) has one node per item. Two items are joined when their *texts* name the
same normalised identifier (phone, WeChat, card, e-mail, domain, agency …) or when one reuses the
other's wording (5-character shingle containment ≥ ``template_threshold``, the corpus rule for a
shared template). Nothing else is used: never the cases' ``identifiers`` or ``template_id`` fields,
which are ground truth for scoring. Groups are the connected components, ranked by a risk score
with its reasons. The institutions being complained to (lenders, banks, insurers and their
departments) are named in almost every complaint and are not leads, so they never link items.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import networkx as nx

from rag.entities import Entity, extract

LINK_TYPES = ("mobile", "landline", "id_card", "bank_card", "wechat", "qq", "email", "url", "org")
TYPE_NAMES = {"mobile": "手机号", "landline": "座机/服务号", "id_card": "身份证号", "bank_card": "银行卡号",
              "wechat": "微信号", "qq": "QQ", "email": "邮箱", "url": "网址/域名", "org": "机构名称",
              "template": "相同模板", "amount": "金额", "date": "日期"}
# Lenders, banks, insurers and their departments: the complained-to party, not a lead.
INSTITUTION = re.compile(r"消费金融|银行|保险|信托|证券|基金|小额贷款|小贷|融资担保|支付|贷后|金融控股|财务公司")
SHINGLE = 5
_CASE_ID = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]+-\d{3,}(?![0-9])")  # case-0015, in CJK text too
_BLACK = {"proxy_rights", "debt_evasion", "credit_repair", "loan_broker", "impersonation", "deepfake"}

Key = tuple[str, str]  # (type, normalized); type "template" for template clusters


def is_institution(entity: Entity) -> bool:
    return entity.type == "org" and bool(INSTITUTION.search(entity.normalized))


def lead_identifiers(text: str) -> list[Entity]:
    """Identifiers in ``text`` that can link items: unmasked, of a linkable type, not the institution."""
    return [e for e in extract(text, LINK_TYPES) if not e.masked and not is_institution(e)]


def shingles(text: str, n: int = SHINGLE) -> set[str]:
    t = re.sub(r"\s+", "", text)
    return {t[i : i + n] for i in range(len(t) - n + 1)}


def template_pairs(texts: dict[str, str], threshold: float = 0.5, min_shingles: int = 15,
                   max_df: int | None = None) -> dict[tuple[str, str], float]:
    """Pairs of items whose shingle containment |A∩B| / min(|A|,|B|) reaches ``threshold``.

    An inverted index counts shared shingles pair by pair; shingles found in more than
    ``max_df`` items (boilerplate such as "请尽快处理") are skipped, which only lowers the counts.
    """
    sets = {i: s for i, t in texts.items() if len(s := shingles(t)) >= min_shingles}
    max_df = max_df or max(50, len(sets) // 5)
    index: dict[str, list[str]] = defaultdict(list)
    for item_id, sh in sets.items():
        for s in sh:
            index[s].append(item_id)
    shared: Counter[tuple[str, str]] = Counter()
    for ids in index.values():
        if 2 <= len(ids) <= max_df:
            ids = sorted(ids)
            for i, a in enumerate(ids):
                for b in ids[i + 1:]:
                    shared[(a, b)] += 1
    out = {}
    for (a, b), n in shared.items():
        c = n / min(len(sets[a]), len(sets[b]))
        if c >= threshold:
            out[(a, b)] = round(c, 3)
    return out


@dataclass
class LinkGraph:
    graph: nx.Graph
    items: dict[str, dict[str, Any]]
    keys: dict[str, set[Key]]  # item id -> its linking keys (identifiers and template ids)
    index: dict[Key, list[str]]  # key -> item ids, in input order
    values: dict[Key, str]  # key -> the value as first written
    hubs: set[Key]  # identifiers in so many items that they were not used to link


def build_graph(items: list[dict[str, Any]], template_threshold: float = 0.5,
                hub_fraction: float = 0.2, min_hub: int = 50) -> LinkGraph:
    graph = nx.Graph()
    by_id = {str(it["id"]): it for it in items}
    keys: dict[str, set[Key]] = {i: set() for i in by_id}
    index: dict[Key, list[str]] = defaultdict(list)
    values: dict[Key, str] = {}
    for item_id, item in by_id.items():
        graph.add_node(item_id)
        for e in lead_identifiers(str(item.get("text") or "")):
            key = (e.type, e.normalized)
            values.setdefault(key, e.value)
            if key not in keys[item_id]:
                keys[item_id].add(key)
                index[key].append(item_id)
    hub_at = max(min_hub, int(hub_fraction * len(by_id)))
    hubs = {k for k, members in index.items() if len(members) > hub_at}
    for key, members in index.items():
        if key in hubs:
            continue
        for other in members[1:]:  # a star per identifier: same components, few edges
            _link(graph, members[0], other, key)
    pairs = template_pairs({i: str(it.get("text") or "") for i, it in by_id.items()}, template_threshold)
    tgraph = nx.Graph(pairs.keys())
    for component in nx.connected_components(tgraph):
        key = ("template", f"tpl~{min(component)}")
        index[key] = sorted(component)
        values[key] = key[1]
        for item_id in component:
            keys[item_id].add(key)
    for (a, b), score in pairs.items():
        _link(graph, a, b, ("template", f"tpl~{min(nx.node_connected_component(tgraph, a))}"), score)
    return LinkGraph(graph, by_id, keys, dict(index), values, hubs)


def _link(graph: nx.Graph, a: str, b: str, key: Key, similarity: float | None = None) -> None:
    if graph.has_edge(a, b):
        graph[a][b]["keys"].add(key)
    else:
        graph.add_edge(a, b, keys={key})
    if similarity is not None:
        graph[a][b]["similarity"] = similarity


def _days(first: str, last: str) -> int | None:
    try:
        return (date.fromisoformat(last[:10]) - date.fromisoformat(first[:10])).days
    except ValueError:
        return None


def describe_group(lg: LinkGraph, members: Iterable[str]) -> dict[str, Any]:
    """A group as ARCHITECTURE's ``{"members","shared","score"}`` plus what an investigator needs."""
    members = sorted(members)
    count: Counter[Key] = Counter(k for m in members for k in lg.keys.get(m, ()) if k not in lg.hubs)
    shared = sorted((k for k, n in count.items() if n >= 2), key=lambda k: (-count[k], k))
    dates = sorted(d for m in members if (d := str(lg.items[m].get("date") or "")))
    labels = Counter(str(lg.items[m].get("label") or "") for m in members)
    labels.pop("", None)
    regions = Counter(str(lg.items[m].get("region") or "").split("/")[0] for m in members)
    regions.pop("", None)
    channels = Counter(str(lg.items[m].get("channel") or "") for m in members)
    channels.pop("", None)
    score, reasons = risk(len(members), labels, shared, regions, channels)
    return {
        "members": members,
        "shared": [k[1] for k in shared],
        "score": score,
        "size": len(members),
        "identifiers": [{"type": k[0], "normalized": k[1], "value": lg.values.get(k, k[1]), "count": count[k]}
                        for k in shared],
        "first_date": dates[0] if dates else "",
        "last_date": dates[-1] if dates else "",
        "span_days": _days(dates[0], dates[-1]) if dates else None,
        "labels": dict(labels.most_common()),
        "regions": dict(regions.most_common()),
        "channels": dict(channels.most_common()),
        "reasons": reasons,
    }


def risk(size: int, labels: Counter[str], shared: list[Key], regions: Counter[str],
         channels: Counter[str]) -> tuple[float, list[str]]:
    """A 0–1 score from size, black-industry labels, how many identifiers join it, and its spread."""
    size_term = min(1.0, math.log2(max(size, 1)) / 4)  # 16 items or more: full weight
    labelled = sum(labels.values())
    black = sum(n for lab, n in labels.items() if lab in _BLACK) / labelled if labelled else 0.5
    strong = [k for k in shared if k[0] != "template"]
    templates = [k for k in shared if k[0] == "template"]
    strength = min(1.0, (len(strong) + 0.5 * len(templates)) / 3)
    spread = min(1.0, (max(len(regions), len(channels)) - 1) / 4) if size > 1 else 0.0
    score = round(0.35 * size_term + 0.3 * black + 0.2 * strength + 0.15 * spread, 3)
    reasons = [f"{size} 件关联"]
    if labelled:
        reasons.append(f"黑产标签占 {black:.0%}")
    if strong:
        reasons.append(f"共用标识 {len(strong)} 个")
    if templates:
        reasons.append("文本套用相同模板")
    if len(regions) > 1:
        reasons.append(f"跨 {len(regions)} 个省份")
    if len(channels) > 1:
        reasons.append(f"来自 {len(channels)} 个渠道")
    return score, reasons


class LeadFinder:
    """Identifiers, link groups and lead summaries over the store's cases or given items."""

    def __init__(self, service=None, access: Iterable[str] | None = None, template_threshold: float = 0.5) -> None:
        self.service = service
        self.access = frozenset(access) if access is not None else None
        self.template_threshold = template_threshold
        self._cache: tuple[Any, LinkGraph] | None = None
        self._ledger_cache = None

    # -- identifiers -------------------------------------------------------------------------
    def entities(self, text: str, include_institutions: bool = False) -> list[Entity]:
        """Every entity of ``text`` (amounts and dates included); institutions left out unless asked."""
        return [e for e in extract(text) if include_institutions or not is_institution(e)]

    def identifiers(self, text: str) -> list[Entity]:
        return lead_identifiers(text)

    # -- items -------------------------------------------------------------------------------
    def allowed_access(self) -> frozenset[str] | None:
        """This finder's access levels, narrowed to those of the user the work runs for."""
        try:
            from rag.auth import current_principal, restrict_access
        except ImportError:  # a build without users and roles
            return self.access
        return restrict_access(self.access, current_principal())

    def _ledger(self):
        """The store's ledger (only the ledger: no embedding model or vector store is needed)."""
        from rag.ledger import Ledger

        path = Path(self.service.settings.store_dir) / "ledger.sqlite3"
        if not path.exists():
            return None
        if self._ledger_cache is None or self._ledger_cache.path != path:
            self._ledger_cache = Ledger(path)
        return self._ledger_cache

    def store_items(self) -> list[dict[str, Any]]:
        """The cases in the store that this finder's access levels may see."""
        ledger = self._ledger()
        if ledger is None:
            return []
        allowed = self.allowed_access()
        items = []
        for r in ledger.documents(kind="case"):
            meta = r.get("metadata") or {}
            access = str(r.get("access") or meta.get("access") or "public")
            if allowed is not None and access not in allowed:
                continue
            items.append({"id": r["doc_id"], "text": r["text"], "title": r.get("title") or "",
                          "label": r.get("label") or "", "date": r.get("date") or "", "access": access,
                          "region": meta.get("region", ""), "channel": meta.get("channel", "")})
        return items

    def graph(self, items: list[dict[str, Any]] | None = None) -> LinkGraph:
        if items is not None:
            items = self._visible(items)
            stamp: Any = ("items", hash(json.dumps(items, ensure_ascii=False, sort_keys=True, default=str)))
            if self._cache is None or self._cache[0] != stamp:
                self._cache = (stamp, build_graph(items, self.template_threshold))
            return self._cache[1]
        stamp = self._store_stamp()
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, build_graph(self.store_items(), self.template_threshold))
        return self._cache[1]

    def _visible(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        allowed = self.allowed_access()
        if allowed is None:
            return items
        return [it for it in items if str(it.get("access") or "public") in allowed]

    def _store_stamp(self) -> Any:
        """Changes when the store's cases may have changed, or the access levels did."""
        ledger = self._ledger()
        return (str(ledger.path), ledger.generation) if ledger else None, self.allowed_access()

    # -- groups ------------------------------------------------------------------------------
    def groups(self, items: list[dict[str, Any]] | None = None, min_size: int = 2) -> dict[str, Any]:
        """``{"groups": [...]}``, highest risk first; ``items`` default to the store's cases."""
        lg = self.graph(items)
        found = [describe_group(lg, c) for c in nx.connected_components(lg.graph) if len(c) >= min_size]
        found.sort(key=lambda g: (-g["score"], -g["size"], g["members"][0]))
        for n, g in enumerate(found, start=1):
            g["id"] = f"L{n:02d}"
        return {"groups": found, "items": len(lg.items),
                "hubs": [{"type": t, "normalized": v, "count": len(lg.index[(t, v)])} for t, v in sorted(lg.hubs)]}

    def related(self, query: str, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """What a request names (identifiers, item ids) and the groups of the items that contain them."""
        lg = self.graph(items)
        named = self.identifiers(query)
        matched: dict[str, list[str]] = {}
        for e in named:
            matched[e.normalized] = list(lg.index.get((e.type, e.normalized), []))
        loose = {t.lower() for t in re.findall(r"[A-Za-z0-9_.@\-]{5,}", query)}
        for key, members in lg.index.items():
            if key[0] != "template" and key[1].lower() in loose and key[1] not in matched:
                matched[key[1]] = list(members)
        for item_id in _CASE_ID.findall(query):
            if item_id in lg.items:
                matched.setdefault(item_id, [item_id])
        seeds = {m for members in matched.values() for m in members}
        components = {frozenset(nx.node_connected_component(lg.graph, s)) for s in seeds}
        groups = sorted((describe_group(lg, c) for c in components), key=lambda g: (-g["score"], g["members"][0]))
        return {"identifiers": [{"type": e.type, "value": e.value, "normalized": e.normalized} for e in named],
                "matched": matched, "groups": groups,
                "members": sorted({m for g in groups for m in g["members"]})}

    def summary(self, group: dict[str, Any] | Iterable[str], items: list[dict[str, Any]] | None = None,
                narrative: bool = True, masked: bool = False):
        """A lead summary for a group (as returned by ``groups``) or a selection of item ids."""
        from rag.lead_summary import summarize

        lg = self.graph(items)
        ids = group["members"] if isinstance(group, dict) else list(group)
        unknown = [i for i in ids if i not in lg.items]
        if unknown:
            raise ValueError(f"找不到这些案件（或无权查看）：{'、'.join(unknown[:5])}")
        if not ids:
            raise ValueError("请先选择至少一个案件或线索组")
        llm = self.service.llm if (narrative and self.service is not None) else None
        described = describe_group(lg, ids)
        if isinstance(group, dict) and group.get("id"):
            described["id"] = group["id"]
        return summarize(lg, described, llm=llm, service=self.service, masked=masked)


def __getattr__(name: str):  # ``from rag.leads import LeadSummary`` without a circular import
    if name == "LeadSummary":
        from rag.lead_summary import LeadSummary

        return LeadSummary
    raise AttributeError(name)
