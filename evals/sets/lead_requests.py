"""The leads eval set: lead requests computed from the committed corpus cases and the gang ground truth
(``gangs.json``). The expected members of a request are the connected group(s) of cases reached
through the requested identifiers (cases are linked when they share a normalised identifier or a
template_id)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "corpus" / "tools"))
from make_cases import id_check_digit, luhn_digit, normalize  # noqa: E402

CASES = ROOT / "corpus" / "cases" / "cases.jsonl"

REQUEST = {
    "mobile": "查一下和手机号{v}有关的所有投诉",
    "wechat": "微信号{v}在哪些案子里出现过？把关联的线索都列出来",
    "bank_card": "把收款卡{v}关联的投诉和案件都拉出来",
    "org": "“{v}”这家机构涉及哪些投诉？",
    "url": "域名{v}最近被多少人举报过，相关案件有哪些",
    "qq": "QQ{v}相关的线索汇总一下",
    "landline": "号码{v}出现在哪些申请和投诉里",
    "email": "邮箱{v}关联了哪些案件",
    "id_card": "身份证号{v}在我们这儿有哪些记录",
}
# which identifier kind to ask about for each gang (the first of that kind in gangs.json)
GANG_QUERY = {"G1": "org", "G2": "wechat", "G3": "qq", "G4": "bank_card", "G5": "landline", "G6": "url",
              "G7": "email", "G8": "mobile"}


def fresh_id_card(body17: str) -> str:
    return body17 + id_check_digit(body17)


def fresh_card(body: str) -> str:
    return body + luhn_digit(body)


# identifiers that are in no case (valid formats, same fictitious conventions)
FRESH = {
    "m1": "15800723419", "m2": "18900361570", "m3": "13700958824", "m4": "19900214637", "m5": "17600482295",
    "c1": fresh_card("621799305512768"), "c2": fresh_card("622899710433218650"), "c3": fresh_card("623699004718325"),
    "i1": fresh_id_card("41010519900307123"), "i2": fresh_id_card("43010419851122047"),
    "w1": "huanqian_zhushou77", "e1": "lxy_1991@163.com",
}


def load_cases():
    with open(CASES, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Graph:
    """Cases linked by a shared normalised identifier or template_id."""

    def __init__(self, rows):
        self.ids = [r["id"] for r in rows]
        self.parent = {i: i for i in self.ids}
        self.where: dict[str, list[str]] = {}
        self.kind: dict[str, str] = {}
        for r in rows:
            keys = []
            for ident in r["identifiers"]:
                n = normalize(ident["type"], ident["value"])
                self.kind[n] = ident["type"]
                keys.append(n)
            if r.get("template_id"):
                keys.append(r["template_id"])
            for k in keys:
                self.where.setdefault(k, []).append(r["id"])
        for members in self.where.values():
            for m in members[1:]:
                self.union(members[0], m)

    def find(self, x):
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def groups_for(self, normalized_values):
        roots = []
        for v in normalized_values:
            for case_id in self.where.get(v, []):
                root = self.find(case_id)
                if root not in roots:
                    roots.append(root)
        groups = [sorted(c for c in self.ids if self.find(c) == root) for root in roots]
        return sorted(groups)


def lead_row(graph, n, request, idents, text=None, note=""):
    normalized = [{"type": t, "normalized": normalize(t, v)} for t, v in idents]
    groups = graph.groups_for([x["normalized"] for x in normalized])
    row = {"id": f"lead-{n:03d}", "request": request}
    if text:
        row["text"] = text
    row["expected_identifiers"] = normalized
    row["expected_members"] = sorted({m for g in groups for m in g})
    row["expected_groups"] = groups
    if note:
        row["note"] = note
    return row


def spaced(v: str) -> str:
    return f"{v[:3]} {v[3:7]} {v[7:]}"


def build_leads(rows, gangs):
    graph = Graph(rows)
    by_gang = {g["gang_id"]: g for g in gangs}

    def first(gid, kind):
        return next(v for v in by_gang[gid]["identifiers"] if graph.kind.get(v) == kind)

    leads, n = [], 0

    def add(request, idents, text=None, note=""):
        nonlocal n
        n += 1
        leads.append(lead_row(graph, n, request, idents, text, note))

    for gid, kind in GANG_QUERY.items():
        v = first(gid, kind)
        shown = spaced(v) if kind == "mobile" else v
        add(REQUEST[kind].format(v=shown), [(kind, shown)], note=f"{gid} 的全部关联案件")
    m1, w3 = first("G1", "mobile"), first("G3", "wechat")
    add(f"手机号{m1}和微信{w3}是不是同一伙人？分别关联哪些案子", [("mobile", m1), ("wechat", w3)],
        note="两个无关团伙，应分成两组")
    l6, m4 = first("G6", "landline"), first("G4", "mobile")
    add(f"座机{l6}、手机{m4}，这两个号码相关的投诉都调出来", [("landline", l6), ("mobile", m4)],
        note="两个无关团伙")
    repeat = next(v for v, cs in graph.where.items() if graph.kind.get(v) == "mobile" and len(cs) == 2
                  and all(r["label"] == "legit_complaint" for r in rows if r["id"] in cs))
    add(f"客户手机{repeat}最近投诉了几次？", [("mobile", repeat)], note="同一真实客户的两次投诉，不是团伙")
    stolen = next(v for v, cs in graph.where.items() if graph.kind.get(v) == "id_card"
                  and graph.groups_for([v]) == [cs] and len(cs) == 1
                  and any(r["label"] == "deepfake" for r in rows if r["id"] in cs))
    add(REQUEST["id_card"].format(v=stolen), [("id_card", stolen)], note="被冒用的身份证，只有一笔")
    add(f"查一下手机号{FRESH['m1']}有没有被投诉过", [("mobile", FRESH["m1"])], note="库里没有的号码：应返回空")
    one_off_org = next(v for v, cs in graph.where.items() if graph.kind.get(v) == "org" and len(cs) == 1
                       and v not in {x for g in gangs for x in g["identifiers"]})
    add(REQUEST["org"].format(v=one_off_org), [("org", one_off_org)], note="一次性出现的代理机构")
    add(REQUEST["org"].format(v=first("G5", "org")), [("org", first("G5", "org"))], note="G5")
    add(REQUEST["wechat"].format(v=first("G4", "wechat").upper()), [("wechat", first("G4", "wechat").upper())],
        note="微信号大小写不敏感")

    # fresh complaints: identifier extraction precision/recall plus linking
    g1w, g1c = first("G1", "wechat"), first("G1", "bank_card")
    text = (f"我在网上找了个帮忙“停息”的公司，对方微信{g1w}，让我把服务费转到{g1c[:4]} {g1c[4:8]} {g1c[8:12]} {g1c[12:]}。"
            f"我自己的手机是{FRESH['m2']}，现在钱交了事没办，请帮我看看这是不是骗子。")
    add("这条新投诉和以前哪些案子有关？", [("wechat", g1w), ("bank_card", f"{g1c[:4]} {g1c[4:8]} {g1c[8:12]} {g1c[12:]}"),
                                       ("mobile", FRESH["m2"])], text, note="G1；客户本人号码不关联任何案件")
    g6l = first("G6", "landline")
    land = g6l.replace("-", "")  # written without dashes here; normalised with them
    g6u = first("G6", "url")
    text = (f"今天下午接到{land}打来的电话，说是你们客服，要我登录https://{g6u}注销学生账户。"
            f"我没操作，回拨了官方号码才知道是假的。我的联系电话{FRESH['m3']}。")
    add("研判这条举报，关联已有线索", [("landline", land), ("url", f"https://{g6u}"), ("mobile", FRESH["m3"])], text, note="G6")
    g4q, g4o = first("G4", "qq"), first("G4", "org")
    text = (f"去年我找{g4o}修复征信，他们让我加QQ{g4q}传资料，我的身份证号{FRESH['i1']}也给了他们。"
            "交了钱记录一条没删，现在担心身份被冒用。")
    add("这条投诉涉及的机构以前出现过吗？", [("org", g4o), ("qq", g4q), ("id_card", FRESH["i1"])], text, note="G4")
    g5m, g5c = first("G5", "mobile"), first("G5", "bank_card")
    text = (f"中介（手机+86 {g5m}）帮我包装资料办了贷款，放款后让我把三千块“点位费”转到{' '.join(g5c[i:i + 4] for i in range(0, len(g5c), 4))}。"
            f"合同复印件我发到你们邮箱了，我的邮箱是{FRESH['e1']}。")
    add("提取这条投诉里的联系方式并关联", [("mobile", f"+86 {g5m}"), ("bank_card", " ".join(g5c[i:i + 4] for i in range(0, len(g5c), 4))),
                                   ("email", FRESH["e1"])], text, note="G5")
    g3w, g2e = first("G3", "wechat"), first("G2", "email")
    g3w_shown = g3w[0].upper() + g3w[1:]
    text = (f"我先是加了一个“上岸”群的群主微信{g3w_shown}，学着写了停催申请；后来又找了一个退费的代理，"
            f"对方邮箱{g2e}，说能把会员费要回来。两边都收了我钱。")
    add("这位客户同时牵涉两伙人吗？", [("wechat", g3w_shown), ("email", g2e)], text, note="G3 与 G2 两组")
    text = (f"有个叫“还钱助手”的人加我微信{FRESH['w1']}，说能帮我延期，让我把钱转到{FRESH['c3']}，"
            f"他的电话{FRESH['m4']}。我没转，先来问问你们。")
    add("这条举报能关联到已有案件吗？", [("wechat", FRESH["w1"]), ("bank_card", FRESH["c3"]), ("mobile", FRESH["m4"])],
        text, note="全部是新标识：应无关联案件")
    g7c, g7m = first("G7", "bank_card"), first("G7", "mobile")
    text = (f"有人用我的身份证{FRESH['i2']}在你们平台申请借款，申请上留的手机{g7m[:3]}-{g7m[3:7]}-{g7m[7:]}不是我的，"
            f"放款卡{g7c}也不是我的。我从来没申请过。")
    add("冒用身份的这条投诉和哪些申请有关？", [("id_card", FRESH["i2"]), ("mobile", f"{g7m[:3]}-{g7m[3:7]}-{g7m[7:]}"),
                                      ("bank_card", g7c)], text, note="G7")
    return leads
