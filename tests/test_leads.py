"""线索汇总: text-only linking, groups and their ranking, requests, summaries, exports, access, CLI, tab."""

from __future__ import annotations

import json

import pytest

from rag.documents import Document
from rag.leads import LeadFinder, build_graph, template_pairs
from rag.service import Service
from tests.fakes import FakeLLM

TEMPLATE = ("尊敬的平台：本人因疫情失业，收入骤降，家中老人重病，已无力偿还借款。根据相关规定，贵司应当停息挂账，"
            "减免全部罚息和利息，本金分六十期偿还。如不同意，本人将向银保监会、人民银行和十二三七八持续投诉。")
ITEMS = [
    {"id": "c1", "text": "对方自称深圳鼎衡法务咨询有限公司，微信 dh_fawu01，电话13600443487，收了我3000元。",
     "label": "proxy_rights", "date": "2024-01-02", "region": "广东省/深圳市", "channel": "网络投诉平台"},
    {"id": "c2", "text": "代理人留的电话 136 0044 3487，让我别和平台联系。", "label": "proxy_rights",
     "date": "2024-02-10", "region": "湖北省/武汉市", "channel": "12378热线"},
    {"id": "c3", "text": "群里让我加V：DH_FAWU01，说能停息挂账。", "label": "debt_evasion", "date": "2024-03-01",
     "region": "四川省/成都市", "channel": "在线客服"},
    {"id": "c4", "text": "我在澄湖消费金融有限公司借款，客服态度很差。", "label": "legit_complaint", "date": "2024-01-05"},
    {"id": "c5", "text": "澄湖消费金融有限公司重复扣款，我的电话138****1234。", "label": "legit_complaint",
     "date": "2024-01-06"},
    {"id": "c6", "text": TEMPLATE + "借款人：甲某。", "label": "debt_evasion", "date": "2024-04-01"},
    {"id": "c7", "text": "来函如下：" + TEMPLATE + "借款人：乙某。", "label": "debt_evasion", "date": "2024-04-09"},
    {"id": "c8", "text": "另一位客户，电话138****1234，反映账单有误。", "label": "legit_complaint", "date": "2024-05-01",
     # ground truth fields exist in the corpus; grouping must never read them
     "identifiers": [{"type": "mobile", "value": "13600443487"}], "template_id": "tpl-x"},
]


def by_member(result):
    return {m: g for g in result["groups"] for m in g["members"]}


@pytest.fixture
def finder():
    return LeadFinder()


def test_items_are_linked_by_the_identifiers_their_texts_name(finder):
    result = finder.groups(ITEMS)
    groups = by_member(result)
    g = groups["c1"]
    assert g["members"] == ["c1", "c2", "c3"]
    assert set(g["shared"]) == {"13600443487", "dh_fawu01"}  # spelled differently in each text
    assert {"members", "shared", "score"} <= set(g) and 0 <= g["score"] <= 1


def test_institutions_masked_numbers_and_ground_truth_fields_do_not_link(finder):
    groups = by_member(finder.groups(ITEMS))
    assert "c4" not in groups and "c5" not in groups  # both name the lender: not a lead
    assert "c8" not in groups  # same masked number as c5; and its identifiers/template_id are ignored


def test_shared_template_links_items_and_is_named(finder):
    g = by_member(finder.groups(ITEMS))["c6"]
    assert g["members"] == ["c6", "c7"] and g["shared"] == ["tpl~c6"]
    assert g["identifiers"][0]["type"] == "template"
    pairs = template_pairs({i["id"]: i["text"] for i in ITEMS})
    assert list(pairs) == [("c6", "c7")] and pairs[("c6", "c7")] >= 0.5


def test_groups_are_ranked_by_risk_with_reasons(finder):
    result = finder.groups(ITEMS)
    assert [g["id"] for g in result["groups"]] == ["L01", "L02"]
    first = result["groups"][0]
    assert first["members"] == ["c1", "c2", "c3"]
    assert first["score"] > result["groups"][1]["score"]
    assert first["span_days"] == 59 and first["labels"] == {"proxy_rights": 2, "debt_evasion": 1}
    assert any("共用标识" in r for r in first["reasons"]) and len(first["regions"]) == 3


def test_an_identifier_in_too_many_items_is_a_hub_and_links_nothing():
    items = [{"id": f"x{i}", "text": f"客服热线95001234，第{i}件。"} for i in range(5)]
    lg = build_graph(items, min_hub=3, hub_fraction=0.0)
    assert lg.graph.number_of_edges() == 0 and ("landline", "95001234") in lg.hubs


def test_requests_find_their_identifiers_and_the_groups_that_contain_them(finder):
    r = finder.related("微信号DH_fawu01关联了哪些案子？", ITEMS)
    assert [i["normalized"] for i in r["identifiers"]] == ["dh_fawu01"]
    assert r["members"] == ["c1", "c2", "c3"] and r["matched"]["dh_fawu01"] == ["c1", "c3"]
    assert finder.related("dh_fawu01", ITEMS)["members"] == ["c1", "c2", "c3"]  # a bare id, no cue word
    assert finder.related("看看 c7 这件", ITEMS)["members"] == []  # not an id pattern of ours
    assert finder.related("看看case-0001这件", [{"id": "case-0001", "text": "无标识"}])["members"] == ["case-0001"]
    assert finder.related("查一下手机号15800723419", ITEMS)["groups"] == []


def test_entities_leave_out_the_institution_unless_asked(finder):
    text = "澄湖消费金融有限公司于2024年3月5日扣款3000元，代理是鼎衡法务。"
    assert [e.type for e in finder.entities(text)] == ["date", "amount", "org"]
    assert "澄湖消费金融有限公司" in [e.value for e in finder.entities(text, include_institutions=True)]


# -- summaries ---------------------------------------------------------------------------------
def test_summary_has_every_section_and_numbers_the_evidence(finder):
    group = finder.groups(ITEMS)["groups"][0]
    s = finder.summary(group, ITEMS)
    md = s.markdown
    for heading in ("## 一、概述", "## 二、时间线", "## 三、标识表", "## 四、关联图", "## 五、案情叙述", "## 六、证据清单"):
        assert heading in md
    assert md.startswith("# 线索汇总 L01：3 件关联案件")
    assert "| M1 | 手机号 | 13600443487 | 2 | c1、c2 |" in md
    assert "1. [S1] c1（2024-01-02" in md and "3. [S3] c3" in md
    assert "离线引擎" in md and s.backend == "offline"


def test_masked_summary_hides_personal_identifiers(finder):
    s = finder.summary(["c1", "c2"], ITEMS, masked=True)
    assert "13600443487" not in s.markdown and "136****3487" in s.markdown


def test_unknown_members_are_refused(finder):
    with pytest.raises(ValueError, match="找不到"):
        finder.summary(["nope"], ITEMS)


def test_graph_picture_markdown_and_docx(finder, tmp_path):
    import docx

    s = finder.summary(finder.groups(ITEMS)["groups"][0], ITEMS)
    png = s.graph_png(tmp_path / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = s.write_markdown(tmp_path / "out" / "lead.md")
    assert (tmp_path / "out" / "lead-lead-graph.png").exists() and "](lead-lead-graph.png)" in md.read_text("utf-8")
    doc = docx.Document(str(s.to_docx(tmp_path / "lead.docx")))
    assert len(doc.tables) == 2 and len(doc.inline_shapes) == 1
    assert any("概述" in p.text for p in doc.paragraphs)


def test_llm_narrative_is_used_only_when_it_cites_the_evidence(settings, tmp_path):
    llm = FakeLLM("多名投诉人提到同一微信号[S1][S3]，疑似同一团伙[S9]。")
    finder = LeadFinder(Service(settings, embedder=object(), llm=llm))
    s = finder.summary(["c1", "c2", "c3"], ITEMS)
    assert s.backend == "fake:scripted" and "[S9]" not in s.narrative and "[S1][S3]" in s.narrative
    assert [c["doc_id"] for c in s.citations] == ["c1", "c3"] and any("S9" in n for n in s.notes)
    user = llm.received[0][1]["content"]
    assert "[S1] c1" in user and "[S3] c3" in user
    uncited = FakeLLM("这是一个团伙。")
    s = LeadFinder(Service(settings, embedder=object(), llm=uncited)).summary(["c1", "c2"], ITEMS)
    assert s.backend == "offline" and any("没有引用" in n for n in s.notes)


# -- the store, access ---------------------------------------------------------------------------
@pytest.fixture
def store_service(settings, hash_embedder):
    svc = Service(settings, embedder=hash_embedder, llm=None)
    docs = [Document(it["id"], it["text"], "case", "", {k: v for k, v in it.items() if k in ("label", "date", "region")})
            for it in ITEMS[:4]]
    docs[1].metadata["access"] = "investigator"
    svc.kb.add_documents(docs)
    return svc


def test_store_cases_and_access_levels(store_service):
    everyone = LeadFinder(store_service).groups()
    assert by_member(everyone)["c1"]["members"] == ["c1", "c2", "c3"]
    public = LeadFinder(store_service, access={"public"})
    assert [it["id"] for it in public.store_items()] == ["c1", "c3", "c4"]
    assert by_member(public.groups())["c1"]["members"] == ["c1", "c3"]


def test_the_acting_users_access_narrows_the_store():
    auth = pytest.importorskip("rag.auth")
    finder = LeadFinder()
    frontline = auth.Principal("zhang", "frontline")
    with auth.acting_as(frontline):
        assert finder.allowed_access() == frozenset({"public"})
        assert [it["id"] for it in finder._visible([{"id": "a", "access": "investigator"}, {"id": "b"}])] == ["b"]


# -- CLI and tab ---------------------------------------------------------------------------------
def test_cli_entities_and_leads(tmp_path, capsys, monkeypatch, run_cli):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in ITEMS), encoding="utf-8")
    assert run_cli(["entities", "--input", str(src)]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert rows[0]["id"] == "c1" and {"type", "value", "normalized", "start", "end"} <= set(rows[0]["entities"][0])
    assert not any(e["value"] == "澄湖消费金融有限公司" for r in rows for e in r["entities"])
    monkeypatch.setenv("XS_DATA_DIR", str(tmp_path / "data"))
    assert run_cli(["leads", "--input", str(src), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["groups"][0]["members"] == ["c1", "c2", "c3"]
    assert run_cli(["leads", "--input", str(src), "--summary", "L01", "--docx", str(tmp_path / "l.docx")]) == 0
    assert (tmp_path / "l.docx").stat().st_size > 10_000
    assert run_cli(["leads"]) == 1 and "没有案件" in capsys.readouterr().err


def test_leads_tab_handlers(store_service):
    from ui.leads import LeadsHandlers

    h = LeadsHandlers(store_service)
    rows, choices, status, state = h.search("")
    assert rows[0][0] == "L01" and rows[0][2] == 3 and "1 个线索组" in status
    rows, choices, status, state = h.search("电话13600443487")
    assert rows[0][2] == 3 and choices["value"] == "L01（3 件）"
    md, picture, state = h.summarize(choices["value"], "", state)
    assert md.startswith("# 线索汇总 L01") and picture.endswith(".png") and "## 四、关联图" not in md
    assert h.export_docx(state).endswith(".docx") and h.export_markdown(state).endswith(".md")
    assert h.summarize(None, "", {})[0].startswith("请先选择")
    path, message = h.share_export("机构A")
    assert path is None and "XS_ALLIANCE_KEY" in message


def test_planted_gangs_and_lead_requests_on_the_sample_corpus():
    """Issue #6 acceptance, from the case texts only: P/R ≥ 0.97, ARI ≥ 0.9 against gangs.json."""
    from evals.leads_bench import bench_leads

    r = bench_leads()
    assert r["p"] >= 0.97 and r["r"] >= 0.97, r["misses"]
    assert r["case_p"] >= 0.97 and r["case_r"] >= 0.97
    assert r["ari"] >= 0.9
    assert r["exact"] == r["leads"], r["wrong"]


@pytest.mark.parametrize("text, expected", [
    ("截图显示该QQ群号3810324422，群名互助", [("qq", "3810324422")]),
    ("模板末尾带着一句“需要一对一指导加kefu_zx910”", [("wechat", "kefu_zx910")]),
    ("对方来电显示为95018862，自称客服", [("landline", "95018862")]),
    ("同盖章为广州市信易达信息咨询有限公司", [("org", "广州市信易达信息咨询有限公司")]),
    ("委托书抬头为长沙市诚礼信息咨询服务部。", [("org", "长沙市诚礼信息咨询服务部")]),
    ("客户：我委托的是成都市弘法债务规划服务有限公司", [("org", "成都市弘法债务规划服务有限公司")]),
    ("本人王某授权深圳市正衡法务咨询有限公司处理一切债务事宜", [("org", "深圳市正衡法务咨询有限公司")]),  # chained suffixes
    ("收入证明落款还是模板里的“XX科技有限公司”", []),  # an industry word and a legal form name nobody
    ("一封署名贵司法务部的邮件说我被起诉了", []),  # the institution itself is no lead
    ("称已请律师应诉，代理人为蜀衡律师事务所杨律师", [("org", "蜀衡律师事务所")]),
    ("收到一份律师函，落款京衡律师事务所，还写了个案号", [("org", "京衡律师事务所")]),
    ("本人已委托闵行区一家律师事务所", []),
    ("工作单位：某物流有限公司，职务经理", []),
    ("律师会与贵司法务部门联系", []),
    ("加QQ12345678详聊", [("qq", "12345678")]),
    ("还款9500元", []),
])
def test_extraction_fixes_found_by_the_leads_eval(text, expected):
    """Misses and false hits the corpus cases showed in rag.entities (types other than amount/date)."""
    from rag.entities import extract

    got = [(e.type, e.normalized) for e in extract(text) if e.type not in ("amount", "date")]
    assert got == expected


def test_leads_tab_refuses_frontline_staff(store_service):
    """Investigators only: a frontline user's request is refused before any work (rag.auth)."""
    gr = pytest.importorskip("gradio")
    from ui.leads import LeadsHandlers

    store_service.users.add("li", "frontline", "password-123", rounds=4)

    class Request:
        username = "li"

    with pytest.raises(gr.Error):
        LeadsHandlers(store_service).search("", request=Request())
