import pytest

from rag.documents import Document
from rag.index import KnowledgeBase
from rag.retrieval import Filters, HybridRetriever, Retriever, query_identifiers, rrf

DOCS = [
    Document("reg-001", "征信业管理条例规定，信息主体认为信用报告有错误的，可以向征信机构提出异议。异议处理不收取费用。",
             "regulation", "征信业管理条例", {"date": "2013-01-21"}),
    Document("scr-001", "专业征信修复，逾期记录删除，先交服务费，包过！加微信 zxxf_kefu99 咨询。", "script",
             "征信修复广告", {"label": "credit_repair", "date": "2024-05"}),
    Document("case-0001", "客户反映接到自称平台客服的电话，要求屏幕共享并转账到安全账户。来电号码 13987650001。",
             "case", "冒充客服", {"label": "impersonation", "date": "2024-03-02", "access": "public"}),
    Document("case-0002", "某法务公司代理客户投诉，要求全额减免息费，否则向监管部门批量投诉。联系人微信 fawu_kefu88。",
             "case", "代理维权", {"label": "proxy_rights", "date": "2024-07-15", "access": "investigator"}),
    Document("case-0003", "客户称每月扣款金额与合同不符，多扣了 35 元，要求退还。", "case", "扣款争议",
             {"label": "legit_complaint", "date": "2023-11-20"}),
]


@pytest.fixture
def retriever(settings, hash_embedder):
    kb = KnowledgeBase(settings, hash_embedder)
    kb.add_documents(DOCS)
    return Retriever(kb)


def test_rrf_rewards_agreement_and_weights():
    fused = rrf([(["a", "b", "c"], 1.0), (["b", "a", "d"], 1.0)], k=60)
    assert max(fused, key=fused.get) in {"a", "b"}
    assert fused["a"] == pytest.approx(fused["b"])
    weighted = rrf([(["a", "b"], 1.0), (["b", "a"], 3.0)], k=60)
    assert weighted["b"] > weighted["a"]


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_each_mode_finds_the_obvious_document(retriever, mode):
    hits = retriever.search("征信修复 删除逾期记录 服务费", k=3, mode=mode)
    assert hits[0].doc_id == "scr-001"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_kind_and_label_filters_apply_to_every_list(retriever):
    hits = retriever.search("征信 异议 删除", k=5, filters=Filters(kind="regulation"))
    assert hits and {h.kind for h in hits} == {"regulation"}
    hits = retriever.search("客户 投诉", k=5, filters=Filters(label="legit_complaint"))
    assert {h.doc_id for h in hits} == {"case-0003"}


def test_date_filter(retriever):
    hits = retriever.search("客户", k=10, filters=Filters(kind="case", date_from="2024-01-01"))
    assert {h.doc_id for h in hits} == {"case-0001", "case-0002"}
    hits = retriever.search("客户", k=10, filters=Filters(kind="case", date_to="2023-12"))
    assert {h.doc_id for h in hits} == {"case-0003"}


def test_access_filter_hides_investigator_documents(retriever):
    public = Filters(access=frozenset({"public"}))
    for mode in ("hybrid", "dense", "keyword"):
        hits = retriever.search("法务公司 代理投诉 减免", k=10, mode=mode, filters=public)
        assert "case-0002" not in {h.doc_id for h in hits}
    # the exact-identifier path is filtered too: the id exists only in the investigator case
    assert "case-0002" not in {h.doc_id for h in retriever.search("fawu_kefu88", k=3, filters=public)}
    assert retriever.search("fawu_kefu88", k=3)[0].doc_id == "case-0002"


def test_exact_identifier_lookup_pins_the_matching_chunk(retriever):
    for query in ("谁用过 13987650001 这个号码", "fawu_kefu88", "微信zxxf_kefu99有关的线索"):
        hits = retriever.search(query, k=3, mode="dense")
        assert hits, query
    assert retriever.search("谁用过 13987650001 这个号码", k=3, mode="dense")[0].doc_id == "case-0001"
    assert retriever.search("fawu_kefu88", k=3, mode="dense")[0].doc_id == "case-0002"
    assert retriever.search("微信zxxf_kefu99有关的线索", k=3)[0].doc_id == "scr-001"


def test_query_identifiers_normalizes_cued_and_bare_ids():
    ids = query_identifiers("电话 139-8765-0001，微信 Fawu_Kefu88")
    assert "13987650001" in ids and "fawu_kefu88" in ids


def test_max_per_doc_gives_document_level_rankings(retriever):
    hits = retriever.search("客户", k=10, max_per_doc=1)
    assert len({h.doc_id for h in hits}) == len(hits)


def test_empty_query_returns_nothing(retriever):
    assert retriever.search("   ", k=5) == []


def test_langchain_retriever_returns_documents_with_ids(retriever):
    lc = HybridRetriever(retriever=retriever, k=2)
    docs = lc.invoke("征信修复 删除逾期")
    assert docs[0].metadata["doc_id"] == "scr-001"
    assert docs[0].metadata["chunk_id"].startswith("scr-001#")
    assert "征信修复" in docs[0].page_content


def test_long_queries_lean_on_keywords():
    from rag.retrieval import Weights

    w = Weights()
    assert w.for_query("短问题", 60) == (w.dense, w.keyword, 60)  # short queries keep the wide RRF k
    assert w.dense < w.keyword  # the small embedding model favours short texts of any topic
    dense, keyword, k = w.for_query("对话" * 150, 60)
    assert dense < keyword and k == w.long_rrf_k
