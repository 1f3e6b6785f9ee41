"""Retrieval with the product's real default embedding model on a small Chinese corpus."""

import pytest

from rag.documents import Document
from rag.index import KnowledgeBase
from rag.retrieval import Retriever

pytestmark = pytest.mark.slow

DOCS = [
    Document("reg-a", "征信机构不得删除真实的不良信息。所谓征信修复、花钱洗白逾期记录的承诺没有法律依据，不良信息保存五年。",
             "regulation", "征信业管理条例要点"),
    Document("reg-b", "催收人员不得使用暴力、恐吓、侮辱手段，不得向借款人以外的第三人透露债务信息，每日催收频次应当合理。",
             "regulation", "催收行为规范"),
    Document("scr-a", "您好，我是平台客服，您的账户开通了百万保障，不关闭每月扣费，请下载会议软件开启屏幕共享配合操作。",
             "script", "冒充客服话术"),
    Document("scr-b", "视频里的人长得像我儿子，说话声音也一样，说出车祸急需用钱让我马上转账，通话不到一分钟就挂了。",
             "script", "AI换脸拟声诈骗"),
    Document("case-a", "某法务咨询公司代客户签订全权委托书，要求我司停止催收、减免全部息费，否则组织群体投诉。",
             "case", "非法代理维权"),
]
QUERIES = [
    ("花钱能不能把征信上的逾期记录删掉", "reg-a"),
    ("催收员打电话骂人还告诉了我的同事", "reg-b"),
    ("客服说要关闭百万保险否则扣钱，让我共享屏幕", "scr-a"),
    ("视频通话里是家人的脸和声音，急着要钱", "scr-b"),
    ("律所代理投诉，要求免除利息和罚息", "case-a"),
]


@pytest.fixture(scope="module")
def retriever(tmp_path_factory, real_embedder):
    settings = real_embedder.settings.model_copy(update={"store": tmp_path_factory.mktemp("real") / "store"})
    kb = KnowledgeBase(settings, real_embedder)
    kb.add_documents(DOCS)
    return Retriever(kb)


@pytest.mark.parametrize("query,expected", QUERIES)
def test_dense_ranks_the_paraphrased_document_first(retriever, query, expected):
    hits = retriever.search(query, k=5, mode="dense")
    assert hits[0].doc_id == expected, [h.doc_id for h in hits]
    assert hits[0].score > hits[-1].score


@pytest.mark.parametrize("query,expected", QUERIES)
def test_hybrid_ranks_it_first_too(retriever, query, expected):
    assert retriever.search(query, k=5)[0].doc_id == expected


def test_query_and_passage_prompts_are_used(real_embedder):
    import numpy as np

    q = real_embedder.encode(["征信修复"], "query")[0]
    p = real_embedder.encode(["征信修复"], "passage")[0]
    assert abs(float(np.linalg.norm(q)) - 1.0) < 1e-4
    assert float(q @ p) < 0.9999  # different prefixes give different vectors
