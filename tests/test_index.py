import pytest

from rag.documents import Document
from rag.index import KnowledgeBase
from rag.store import StoreLocked, WriterLock


def docs(n=5, suffix=""):
    return [Document(f"case-{i:04d}", f"第{i}号案例：客户反映被冒充客服诱导转账{suffix}。联系人电话13912345{i:03d}。"
                     + "后续由专员核实处理。" * 3, "case", f"案例{i}", {"label": "impersonation", "date": f"2024-0{i % 9 + 1}-01"})
            for i in range(n)]


def test_ingest_then_reingest_computes_zero_embeddings(settings, hash_embedder):
    kb = KnowledgeBase(settings, hash_embedder)
    first = kb.add_documents(docs())
    assert (first.added, first.unchanged) == (5, 0)
    assert first.chunks_embedded == kb.vectors.count() == kb.ledger.chunk_count() > 0
    calls = hash_embedder.calls
    again = kb.add_documents(docs())
    assert (again.added, again.replaced, again.unchanged, again.chunks_embedded) == (0, 0, 5, 0)
    assert hash_embedder.calls == calls  # not a single encode call


def test_changed_document_replaces_its_chunks(settings, hash_embedder):
    kb = KnowledgeBase(settings, hash_embedder)
    kb.add_documents(docs(2))
    old = set(kb.ledger.chunk_ids("case-0001"))
    changed = docs(2, suffix="（已补充材料）")
    stats = kb.add_documents(changed)
    new = set(kb.ledger.chunk_ids("case-0001"))
    assert stats.replaced == 2 and stats.chunks_removed > 0
    assert old.isdisjoint(new)
    assert kb.vectors.all_ids() == {r[0] for r in kb.ledger.all_chunks()}


def test_metadata_only_change_updates_without_reembedding(settings, hash_embedder):
    kb = KnowledgeBase(settings, hash_embedder)
    kb.add_documents(docs(1))
    relabelled = docs(1)
    relabelled[0].metadata["label"] = "deepfake"
    stats = kb.add_documents(relabelled)
    assert stats.replaced == 1 and stats.chunks_embedded == 0
    got = kb.vectors.collection.get(ids=kb.ledger.chunk_ids("case-0000"), include=["metadatas"])
    assert {m["label"] for m in got["metadatas"]} == {"deepfake"}


def test_pending_documents_from_a_crash_are_finished(settings, hash_embedder):
    kb = KnowledgeBase(settings, hash_embedder)
    kb.add_documents(docs(3))
    # simulate a crash after staging: ledger pending, vectors for one doc missing
    lost = kb.ledger.chunk_ids("case-0002")
    kb.vectors.delete(lost)
    with kb.ledger.tx() as db:
        db.execute("UPDATE documents SET state='pending' WHERE doc_id='case-0002'")
    kb.add_documents([])
    assert kb.ledger.pending() == []
    assert kb.vectors.existing(lost) == set(lost)


def test_reconcile_removes_vectors_the_ledger_does_not_know(settings, hash_embedder):
    kb = KnowledgeBase(settings, hash_embedder)
    kb.add_documents(docs(1))
    kb.vectors.upsert(["orphan#1"], ["孤儿片段"], [{"doc_id": "orphan", "kind": "case"}], hash_embedder.encode(["x"]))
    removed, reembedded = kb.reconcile()
    assert (removed, reembedded) == (1, 0)
    assert "orphan#1" not in kb.vectors.all_ids()


def test_identifiers_are_indexed_per_chunk(settings, hash_embedder):
    kb = KnowledgeBase(settings, hash_embedder)
    kb.add_documents(docs(3))
    found = kb.ledger.chunks_with_identifier(["13912345001"])
    assert {kb.ledger.chunks([c])[c]["doc_id"] for c in found} == {"case-0001"}


def test_delete_documents_drops_them_everywhere(settings, hash_embedder):
    kb = KnowledgeBase(settings, hash_embedder)
    kb.add_documents(docs(3))
    n = kb.delete_documents(["case-0000"])
    assert n > 0
    assert kb.ledger.document("case-0000") is None
    assert not any(cid.startswith("case-0000#") for cid in kb.vectors.all_ids())
    assert not any(cid.startswith("case-0000#") for cid in kb.keyword_index().ids)


def test_a_second_writer_is_refused_with_a_clear_message(settings, hash_embedder):
    kb = KnowledgeBase(settings, hash_embedder)
    with WriterLock(settings.store_dir):
        with pytest.raises(StoreLocked, match="正被另一个进程写入"):
            kb.add_documents(docs(1))


def test_keyword_index_follows_the_ledger_generation(settings, hash_embedder):
    kb = KnowledgeBase(settings, hash_embedder)
    kb.add_documents(docs(2))
    assert len(kb.keyword_index()) == kb.ledger.chunk_count()
    fresh = KnowledgeBase(settings, hash_embedder)  # a new process: loads the saved index
    assert fresh.keyword_index().ids == kb.keyword_index().ids
