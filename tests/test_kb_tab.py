"""知识库 tab: handlers called directly (upload with progress, counts, list, chunks, delete, re-index,
a store locked by another writer), then the tab built inside a real Gradio page."""

import json
import types

import pytest

from rag.service import Service
from rag.store import WriterLock
from tests.makefiles import docx_file
from ui.kb import KBHandlers


class Progress:
    """Stands in for gr.Progress: records every (fraction, description)."""

    def __init__(self):
        self.calls = []

    def __call__(self, value, desc=None):
        self.calls.append((value, desc))


@pytest.fixture
def kb_tab(settings, hash_embedder):
    return KBHandlers(Service(settings, embedder=hash_embedder, llm=None))


@pytest.fixture
def uploads(tmp_path):
    """Files as Gradio hands them over: temporary paths with the user's file names."""
    src = tmp_path / "gradio-tmp"
    src.mkdir()
    docx_file(src / "征信异议规定.docx", "征信异议规定",
              [("异议", ["信息主体认为信用报告有误的，可以向征信机构提出异议。"]), ("禁止", ["不得以收费为条件删除真实的不良信息。"])])
    (src / "cases.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"id": "case-t1", "text": "客户反映冒充客服诱导转账到安全账户，来电 13912340001。", "label": "impersonation"},
        {"id": "case-t2", "text": "自称征信修复公司收费删除逾期记录，微信 zx_fix01。", "label": "credit_repair"},
    ]), encoding="utf-8")
    (src / "broken.pdf").write_bytes(b"%PDF-1.7\n this is not a pdf at all")
    return src


def test_upload_shows_progress_counts_and_one_line_per_failed_file(kb_tab, uploads):
    progress = Progress()
    files = [str(uploads / "征信异议规定.docx"), str(uploads / "cases.jsonl"), str(uploads / "broken.pdf")]
    status, counts, docs, store = kb_tab.upload(files, "auto", "", progress=progress)
    assert "导入完成，但有文件未能全部导入" in status and "文档 3 篇" in status
    assert status.count("❌") == 1 and "broken.pdf" in status and "PDF" in status
    assert "Traceback" not in status
    # progress went through both phases, monotonically, ending full
    values = [v for v, _ in progress.calls]
    assert values == sorted(values) and values[-1] == pytest.approx(1.0)
    assert any(d.startswith("读取") for _, d in progress.calls) and any(d.startswith("写入") for _, d in progress.calls)
    # counts per kind, with a total row
    by_kind = {row[0]: row[1:] for row in counts}
    assert by_kind["投诉"][0] == 3 and by_kind["合计"][0] == 3
    assert len(docs) == 3 and {"case-t1", "case-t2"} <= {row[0] for row in docs}
    assert next(row for row in docs if row[0] == "case-t1")[1:4] == ["投诉", "", "impersonation"]
    assert "一致" in store
    # the good files are kept for re-indexing, the broken one is not
    kept = sorted(p.name for p in kb_tab.upload_dir.rglob("*") if p.is_file())
    assert kept == ["cases.jsonl", "征信异议规定.docx"]


def test_upload_with_a_kind_files_documents_under_that_kind(kb_tab, uploads):
    kb_tab.upload([str(uploads / "cases.jsonl")], "case", "", progress=Progress())
    counts = {row[0]: row[1] for row in kb_tab.counts_rows()}
    assert counts == {"案例": 2, "合计": 2}
    assert (kb_tab.upload_dir / "cases" / "cases.jsonl").is_file()
    _, docs, _ = kb_tab.refresh("case")
    assert sorted(row[0] for row in docs) == ["case-t1", "case-t2"]
    _, docs, _ = kb_tab.refresh("regulation")
    assert docs == []


def test_view_shows_a_documents_chunks_escaped(kb_tab, tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text(json.dumps({"id": "case-x", "text": "诈骗话术<script>alert(1)</script>要求转账。", "title": "恶意<b>"},
                            ensure_ascii=False), encoding="utf-8")
    kb_tab.upload([str(f)], "case", "", progress=Progress())
    shown = kb_tab.view("case-x")
    assert "<script>" not in shown and "&lt;script&gt;" in shown and "恶意&lt;b&gt;" in shown
    assert "tokens" in shown and 'id="xs-kb-chunk-0"' in shown
    assert "没有编号为" in kb_tab.view("case-nope")
    picked_id, picked = kb_tab.select([["case-x", "案例"]], types.SimpleNamespace(index=[0, 2]))
    assert picked_id == "case-x" and "&lt;script&gt;" in picked


def test_delete_removes_everywhere_and_drops_the_uploaded_file(kb_tab, uploads):
    kb_tab.upload([str(uploads / "cases.jsonl"), str(uploads / "征信异议规定.docx")], "auto", "", progress=Progress())
    status, counts, docs, store = kb_tab.delete("case-t1，case-t2, case-missing")
    assert "已删除 2 篇文档" in status and "未找到：case-missing" in status and "上传的文件 1 个" in status
    kb = kb_tab.kb
    assert kb.ledger.document("case-t1") is None
    assert not any(cid.startswith("case-t") for cid in kb.vectors.all_ids())
    assert not any(cid.startswith("case-t") for cid in kb.keyword_index().ids)
    assert not (kb_tab.upload_dir / "cases.jsonl").exists()
    assert "一致" in store and len(docs) == 1
    assert "请输入" in kb_tab.delete("  ")[0]


def test_reindex_reads_changed_sources_and_removes_vanished_ones(kb_tab, uploads):
    kb_tab.upload([str(uploads / "cases.jsonl"), str(uploads / "征信异议规定.docx")], "auto", "", progress=Progress())
    kept = kb_tab.upload_dir / "cases.jsonl"
    kept.write_text(json.dumps({"id": "case-t1", "text": "客户反映冒充客服诱导转账，已追回。"}, ensure_ascii=False),
                    encoding="utf-8")
    (kb_tab.upload_dir / "征信异议规定.docx").unlink()
    progress = Progress()
    status, counts, docs, store = kb_tab.reindex("", progress=progress)
    assert "重新索引完成" in status and "替换 1" in status and "删除 2" in status, status
    assert sorted(row[0] for row in docs) == ["case-t1"]
    assert "一致" in store and progress.calls


def test_writes_are_refused_while_another_writer_holds_the_store(kb_tab, uploads, settings):
    with WriterLock(settings.store_dir):
        status, *_ = kb_tab.upload([str(uploads / "cases.jsonl")], "auto", "", progress=Progress())
        assert status.startswith("知识库正被另一个进程写入")
        assert kb_tab.delete("case-t1")[0].startswith("没有找到")  # nothing there to delete
        assert kb_tab.reindex("", progress=Progress())[0].startswith("知识库正被另一个进程写入")
    assert kb_tab.counts_rows() == []
    assert not list(kb_tab.upload_dir.rglob("*.jsonl"))  # nothing copied while refused


def test_empty_upload_asks_for_files(kb_tab):
    status, counts, docs, store = kb_tab.upload([], "auto", "", progress=Progress())
    assert status.startswith("请先选择") and counts == [] and docs == []


def test_the_tab_builds_inside_a_page(kb_tab):
    import gradio as gr

    from ui import kb
    from ui.context import UIContext

    with gr.Blocks() as demo:
        kb.build(UIContext(kb_tab.service))
    names = {getattr(fn, "api_name", None) for fn in demo.fns.values()}
    assert {"kb_upload", "kb_reindex", "kb_delete", "kb_view"} <= names


def test_the_tab_works_over_http(kb_tab, uploads):
    """The handlers' special arguments (gr.Progress, gr.Request) survive the permission wrapper."""
    import socket

    import gradio as gr
    from gradio_client import Client, handle_file

    from ui import kb
    from ui.context import UIContext

    with gr.Blocks() as demo:
        kb.build(UIContext(kb_tab.service))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        status, counts, docs, store = client.predict([handle_file(str(uploads / "cases.jsonl"))], "case", "",
                                                     api_name="/kb_upload")
        assert status.startswith("导入完成") and "新增 2" in status
        assert "客户反映冒充客服" in client.predict("case-t1", api_name="/kb_view")
    finally:
        demo.close()
