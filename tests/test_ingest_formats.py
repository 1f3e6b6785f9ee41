"""Every supported format, made here in the test, read into documents and through the pipeline.

Also: encodings, row files with configurable fields, headings kept as chunk context, chunks that fit
the embedding model (a fake tokenizer here; the real one in the slow test), token counts, deterministic
ids, and re-ingest that embeds nothing and does not even parse unchanged files again.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ingest.loaders import LOADERS, LoadError, LoadOptions, read_file
from ingest.pipeline import ingest_paths, summary_line
from rag.chunking import chunk_document
from rag.documents import Document
from rag.index import KnowledgeBase
from rag.tokens import count_tokens
from tests import makefiles as mf
from tests.fakes import HashEmbedder

REG_TEXT = "第一条 为了规范征信活动，保护当事人合法权益，制定本条例。第二条 任何机构不得以收费为条件承诺删除真实的不良信息。"


def one(path: Path, options: LoadOptions = LoadOptions()) -> Document:
    loaded = read_file(path, options)
    assert not loaded.problems, loaded.problems
    assert len(loaded.docs) == 1
    return loaded.docs[0]


# -- text and encodings ----------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_text_files_in_every_encoding(tmp_path, encoding):
    text = "客户反映：对方自称客服，要求转账到“安全账户”。" + ("㐀生僻字" if encoding in ("gb18030", "utf-8", "utf-16") else "")
    f = tmp_path / f"complaint-{encoding}.txt"
    f.write_bytes(text.encode(encoding))
    doc = one(f)
    assert doc.text == text and doc.kind == "complaint" and doc.title == f.stem


def test_short_gbk_text_is_not_mistaken_for_another_encoding(tmp_path):
    f = tmp_path / "short.txt"
    f.write_bytes("退款".encode("gbk"))  # 4 bytes: generic detectors call this Big5
    assert one(f).text == "退款"


def test_markdown_front_matter_and_headings(tmp_path, settings, hash_embedder):
    f = tmp_path / "regulations" / "reg-901.md"
    f.parent.mkdir()
    f.write_text("---\nid: reg-901\ntitle: 征信示例条例\ndate: 2020-01-01\ntopics: [征信]\n---\n"
                 "## 异议处理\n信息主体认为信息有误的，可以提出异议。\n## 罚则\n违反规定的，依法处罚。\n", encoding="gbk")
    doc = one(f)
    assert (doc.doc_id, doc.kind, doc.title) == ("reg-901", "regulation", "征信示例条例")
    assert doc.metadata["date"] == "2020-01-01" and doc.metadata["topics"] == ["征信"]
    chunks = KnowledgeBase(settings, hash_embedder).chunk(doc)
    assert [c.context for c in chunks] == ["征信示例条例 / 异议处理", "征信示例条例 / 罚则"]


def test_jsonl_rows_with_configurable_fields(tmp_path):
    f = tmp_path / "cases.jsonl"
    rows = [{"编号": "c-1", "内容": "冒充客服诱导转账。", "类别": "impersonation", "channel": "APP"},
            {"编号": "c-2", "内容": "征信修复收费。", "类别": "credit_repair", "channel": "热线"}]
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    docs = read_file(f, LoadOptions(kind="case", text_field="内容", id_field="编号", label_field="类别")).docs
    assert [(d.doc_id, d.text, d.kind, d.label) for d in docs] == [
        ("c-1", "冒充客服诱导转账。", "case", "impersonation"), ("c-2", "征信修复收费。", "case", "credit_repair")]
    assert docs[0].metadata["channel"] == "APP" and "内容" not in docs[0].metadata


# -- office ------------------------------------------------------------------------------------
def test_csv_rows_in_gbk_with_chinese_headers(tmp_path):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["编号", "正文", "label", "日期", "渠道"])
    w.writerow(["k-1", "客户称被收取服务费，要求退款。", "fee", "2024-03-01", "12378"])
    w.writerow(["", "", "", "", ""])  # a blank row, as spreadsheets export them
    w.writerow(["k-2", "冒充公检法，要求转账到“安全账户”。", "police", "2024-03-02", "APP"])
    f = tmp_path / "complaints.csv"
    f.write_bytes(buf.getvalue().encode("gbk"))
    docs = read_file(f, LoadOptions(id_field="编号")).docs  # text column found as 正文
    assert [(d.doc_id, d.label, d.metadata["渠道"], d.metadata["日期"]) for d in docs] == [
        ("k-1", "fee", "12378", "2024-03-01"), ("k-2", "police", "APP", "2024-03-02")]
    assert docs[1].text == "冒充公检法，要求转账到“安全账户”。"


def test_tsv_and_semicolon_csv(tmp_path):
    (tmp_path / "a.tsv").write_text("id\ttext\nt-1\t第一行，含逗号，不分列。\n", encoding="utf-8")
    (tmp_path / "b.csv").write_text("id;text\ns-1;分号分隔的导出文件。\n", encoding="utf-8-sig")
    assert one(tmp_path / "a.tsv").text == "第一行，含逗号，不分列。"
    assert one(tmp_path / "b.csv").doc_id == "s-1"


def test_xlsx_rows_sheets_and_a_row_without_text(tmp_path):
    import datetime as dt

    f = mf.xlsx_file(tmp_path / "cases.xlsx", {
        "案件": [["id", "text", "label", "日期", "金额"],
                 ["x-1", "客户反映被冒充客服诱导转账。", "impersonation", dt.date(2024, 1, 2), 3000],
                 [None, None, None, None, None],
                 ["x-2", None, "fee", dt.date(2024, 1, 3), 10],
                 ["x-3", "征信修复收费删除逾期。", "credit_repair", dt.date(2024, 2, 3), 5000]],
        "说明": [["备注"], ["这一页没有正文列，跳过"]],
    })
    loaded = read_file(f, LoadOptions(kind="case"))
    assert [(d.doc_id, d.label, d.metadata["日期"], d.metadata["金额"], d.metadata["sheet"]) for d in loaded.docs] == [
        ("x-1", "impersonation", "2024-01-02", 3000, "案件"), ("x-3", "credit_repair", "2024-02-03", 5000, "案件")]
    assert len(loaded.problems) == 1 and "第 4 行缺少文本字段" in loaded.problems[0].reason
    assert "其余 2 篇已导入" in loaded.problem_line()


def test_docx_headings_become_context_and_tables_become_lines(tmp_path, settings, hash_embedder):
    f = mf.docx_file(tmp_path / "规定.docx", "征信异议规定",
                     [("异议", ["信息主体认为信息有误的，可以提出异议。"]), ("罚则", ["违反规定的，依法处罚。"])],
                     table=[["项目", "金额"], ["服务费", "3000元"]])
    doc = one(f)
    assert doc.title == "征信异议规定"
    assert "## 异议" in doc.text and "服务费 | 3000元" in doc.text
    contexts = {c.context for c in KnowledgeBase(settings, hash_embedder).chunk(doc)}
    assert "征信异议规定 / 征信异议规定 / 异议" in contexts


# -- pdf and html -------------------------------------------------------------------------------
def test_pdf_text_layer_in_chinese(tmp_path):
    f = tmp_path / "条例.pdf"
    f.write_bytes(mf.pdf_bytes([["第一条 为了规范征信活动，保护当事人合法权益。", "第二条 不得收费删除逾期记录。"],
                                ["第三条 联系电话 13912345678。"]], title="征信条例（测试）"))
    doc = one(f)
    assert doc.title == "征信条例（测试）" and doc.metadata["pages"] == 2 and "ocr_pages" not in doc.metadata
    assert "第二条 不得收费删除逾期记录。" in doc.text and "13912345678" in doc.text
    assert doc.text.index("第一条") < doc.text.index("第三条")


def test_html_keeps_text_headings_and_tables_and_drops_scripts(tmp_path):
    page = ("<html><head><meta charset='gbk'><title>防范诈骗通知</title><style>p{color:red}</style></head><body>"
            "<h1>关于防范冒充客服诈骗</h1><p>近期有人冒充客服。<br>请勿转账。</p><script>var x='不应出现';</script>"
            "<ul><li>不要共享屏幕</li><li>不要透露验证码</li></ul>"
            "<table><tr><th>渠道</th><th>号码</th></tr><tr><td>热线</td><td>95555</td></tr></table></body></html>")
    f = tmp_path / "notice.html"
    f.write_bytes(page.encode("gbk"))
    doc = one(f)
    assert doc.title == "防范诈骗通知"
    assert doc.text.splitlines() == ["# 关于防范冒充客服诈骗", "近期有人冒充客服。", "请勿转账。", "- 不要共享屏幕",
                                     "- 不要透露验证码", "渠道 | 号码", "热线 | 95555"]


# -- ocr ------------------------------------------------------------------------------------------
def _ocr_lines() -> tuple[list[str], list[str], str | None]:
    """Lines to draw and what must be read back: Chinese when a CJK font is installed, else ASCII."""
    font = mf.cjk_font()
    if font:
        return ["客户称对方自称客服", "要求转账三千元", "电话 13912345678"], ["自称客服", "转账三千元", "13912345678"], font
    return ["CALL 13912345678", "WECHAT zx_fix01"], ["13912345678", "zx_fix01"], None


def _squash(text: str) -> str:
    return "".join(text.split())


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_screenshots_are_read_by_ocr(tmp_path, fmt, suffix):
    lines, expect, font = _ocr_lines()
    f = tmp_path / f"chat{suffix}"
    f.write_bytes(mf.text_image(lines, fmt=fmt, font_path=font))
    doc = one(f)
    for phrase in expect:
        assert _squash(phrase) in _squash(doc.text), doc.text
    assert doc.metadata["ocr"] == "rapidocr" and doc.metadata["ocr_confidence"] > 0.8


def test_scanned_pdf_pages_are_read_by_ocr(tmp_path):
    lines, expect, font = _ocr_lines()
    f = tmp_path / "scan.pdf"
    f.write_bytes(mf.scanned_pdf(lines, font_path=font))
    doc = one(f)
    assert doc.metadata["ocr_pages"] == [1]
    for phrase in expect:
        assert _squash(phrase) in _squash(doc.text), doc.text
    with pytest.raises(LoadError, match="没有文字层"):
        read_file(f, LoadOptions(ocr=False))


# -- through the pipeline --------------------------------------------------------------------------
def make_tree(root: Path) -> Path:
    """One directory with a file of every format (OCR ones excluded: they are slow and tested above)."""
    (root / "regulations").mkdir(parents=True)
    (root / "cases").mkdir()
    (root / "complaints").mkdir()
    (root / "regulations" / "reg.md").write_text(f"---\nid: reg-950\ntitle: 示例条例\n---\n## 总则\n{REG_TEXT}\n",
                                                 encoding="utf-8")
    (root / "regulations" / "reg.pdf").write_bytes(mf.pdf_bytes([[REG_TEXT[:30], REG_TEXT[30:]]]))
    mf.docx_file(root / "regulations" / "reg.docx", "异议规定", [("异议", ["信息主体可以提出异议。"])])
    (root / "regulations" / "notice.html").write_text("<h1>通知</h1><p>谨防冒充客服。</p>", encoding="utf-8")
    (root / "cases" / "cases.jsonl").write_text("\n".join(json.dumps(
        {"id": f"case-95{i}", "text": f"第{i}号案例：冒充客服诱导转账，来电 1391234500{i}。" * (1 + 20 * (i == 0)),
         "label": "impersonation"}, ensure_ascii=False) for i in range(3)), encoding="utf-8")
    mf.xlsx_file(root / "cases" / "more.xlsx", {"Sheet": [["id", "text"], ["case-960", "征信修复收费删除逾期。"]]})
    (root / "complaints" / "c.csv").write_bytes("id,text\ncmp-1,客户称被收取服务费。\n".encode("gbk"))
    (root / "complaints" / "note.txt").write_text("客户来电投诉催收骚扰。", encoding="utf-8-sig")
    (root / "complaints" / "tools.py").write_text("print('not a document')")  # passed over in a directory
    return root


def agree(kb: KnowledgeBase) -> set[str]:
    """The chunk ids, after checking ledger, vector store and keyword index hold exactly the same ones."""
    ledger = kb.ledger.done_chunk_ids()
    assert kb.vectors.all_ids() == ledger
    assert set(kb.keyword_index().ids) == ledger and len(kb.keyword_index().ids) == len(ledger)
    assert kb.ledger.pending() == []
    return ledger


def test_every_format_goes_into_the_store(tmp_path, settings, hash_embedder):
    src = make_tree(tmp_path / "src")
    kb = KnowledgeBase(settings, hash_embedder)
    stats = ingest_paths(kb, [src])
    assert stats.failed == [] and stats.warnings == [] and stats.files == 8 and stats.files_skipped == 1
    assert (stats.documents, stats.added) == (10, 10)
    assert kb.ledger.counts() == {"regulation": 4, "case": 4, "complaint": 2}
    ids = agree(kb)
    assert stats.chunks_added == len(ids) == stats.chunks_embedded
    line = summary_line(stats)
    assert "文件 8 个" in line and "新增 10" in line and "跳过不支持的 1" in line and "片段/秒" in line
    # every chunk records its tiktoken count
    for doc in kb.ledger.documents():
        for c in kb.ledger.chunks_of(doc["doc_id"]):
            assert c["tokens"] == count_tokens(c["text"], settings.token_encoding) > 0
    # the same input gives the same ids in another store
    other = KnowledgeBase(settings.model_copy(update={"store": tmp_path / "other"}), HashEmbedder())
    ingest_paths(other, [src])
    assert agree(other) == ids


def test_reingest_embeds_nothing_and_parses_no_unchanged_file(tmp_path, settings, monkeypatch):
    src = make_tree(tmp_path / "src")
    embedder = HashEmbedder()
    kb = KnowledgeBase(settings, embedder)
    ingest_paths(kb, [src])
    calls, texts = embedder.calls, embedder.texts_encoded

    def refuse(path, options):
        raise AssertionError(f"{path} was parsed again")

    monkeypatch.setitem(LOADERS, ".pdf", refuse)
    monkeypatch.setitem(LOADERS, ".docx", refuse)
    again = ingest_paths(kb, [src])
    assert (embedder.calls, embedder.texts_encoded) == (calls, texts)  # not a single encode call
    assert (again.added, again.replaced, again.unchanged, again.chunks_embedded) == (0, 0, 10, 0)
    assert again.files_unchanged == 8 and again.failed == []
    monkeypatch.undo()

    # one row changes: only its new chunks are embedded, its old ones leave every store
    rows = [json.loads(line) for line in (src / "cases" / "cases.jsonl").read_text(encoding="utf-8").splitlines()]
    old = set(kb.ledger.chunk_ids("case-951"))
    rows[1]["text"] = "第1号案例：已核实为冒充客服诈骗，资金已冻结。"
    (src / "cases" / "cases.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    changed = ingest_paths(kb, [src])
    assert (changed.replaced, changed.unchanged) == (1, 9)
    assert embedder.texts_encoded - texts == changed.chunks_embedded == len(kb.ledger.chunk_ids("case-951"))
    assert old.isdisjoint(agree(kb))


def test_a_changed_file_replaces_what_it_gave_and_prune_removes_vanished_files(tmp_path, settings, hash_embedder):
    src = make_tree(tmp_path / "src")
    kb = KnowledgeBase(settings, hash_embedder)
    ingest_paths(kb, [src])
    # a row disappears from a file that still exists: its document goes (no --prune needed)
    cases = src / "cases" / "cases.jsonl"
    cases.write_text("\n".join(cases.read_text(encoding="utf-8").splitlines()[:2]), encoding="utf-8")
    stats = ingest_paths(kb, [src])
    assert stats.removed == 1 and kb.ledger.document("case-952") is None
    # a file that turns corrupt: reported, and its documents stay as they were
    (src / "cases" / "more.xlsx").write_bytes(b"PK\x03\x04 truncated")
    stats = ingest_paths(kb, [src])
    assert [Path(s).name for s, _ in stats.failed] == ["more.xlsx"] and kb.ledger.document("case-960")
    # a file that vanished: kept without --prune, removed with it
    (src / "cases" / "more.xlsx").unlink()
    (src / "complaints" / "note.txt").unlink()
    assert ingest_paths(kb, [src]).removed == 0
    stats = ingest_paths(kb, [src], prune=True)
    assert stats.removed == 2 and kb.ledger.document("case-960") is None
    agree(kb)
    # prune only looks under the given roots
    assert ingest_paths(kb, [src / "complaints"], prune=True).removed == 0


def test_the_same_doc_id_in_two_files_is_kept_once_and_reported(tmp_path, settings, hash_embedder):
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "dup-1", "text": "第一份。"}, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "dup-1", "text": "第二份。"}, ensure_ascii=False), encoding="utf-8")
    kb = KnowledgeBase(settings, hash_embedder)
    stats = ingest_paths(kb, [tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    assert kb.ledger.document("dup-1")["text"] == "第一份。"
    assert [Path(s).name for s, _ in stats.warnings] == ["b.jsonl"] and "dup-1" in stats.warnings[0][1]


# -- chunks fit the embedding model ------------------------------------------------------------------
class TokenizingEmbedder(HashEmbedder):
    """A HashEmbedder with a tokenizer (two tokens per character, plus two specials) and a prompt."""

    def __init__(self, max_tokens: int) -> None:
        super().__init__()
        self.max_tokens = max_tokens
        self.model = type("Model", (), {"prompts": {"passage": "passage: "}})()

    def count_tokens(self, text: str) -> int:
        return 2 * len(text) + 2


def test_chunks_are_split_until_they_fit_the_model(settings):
    embedder = TokenizingEmbedder(max_tokens=300)
    kb = KnowledgeBase(settings, embedder)
    doc = Document("reg-long", "## 第一章\n" + "信息主体认为信息有误的，可以向征信机构提出异议，征信机构应当在规定期限内处理。" * 12,
                   "regulation", "很长的条例标题" * 3)
    chunks = kb.chunk(doc)
    budget = 300 - (embedder.count_tokens("passage: ") - embedder.count_tokens(""))
    by_characters = chunk_document(doc, settings.chunk_chars, settings.chunk_overlap_chars)
    assert all(embedder.count_tokens(c.embed_text) > budget for c in by_characters)  # none would fit
    assert len(chunks) > len(by_characters)
    assert all(embedder.count_tokens(c.embed_text) <= budget for c in chunks)
    assert [c.chunk_id for c in kb.chunk(doc)] == [c.chunk_id for c in chunks]  # deterministic
    body = "".join(doc.text.splitlines()[1:])
    assert all(c.text.strip() and c.text in body for c in chunks)
    assert all(c.text.endswith(("。", "，")) for c in chunks)  # cut at sentences or commas, never mid-phrase


@pytest.mark.slow
def test_chunks_fit_the_real_models_sequence_limit(settings, real_embedder):
    """With chunks of 2,000 characters, the real tokenizer forces splits; every passage then fits."""
    wide = settings.model_copy(update={"chunk_chars": 2000, "chunk_overlap_chars": 0})
    kb = KnowledgeBase(wide, real_embedder)
    text = "\n".join(f"第{i}条 信息主体认为信用报告中的信息有误的，可以向征信机构提出异议（联系电话 139{i:08d}，"
                     f"微信 zx_{i:04d}），征信机构应当在二十日内处理并书面答复。" for i in range(60))
    chunks = kb.chunk(Document("reg-wide", text, "regulation", "征信业管理条例"))
    model = real_embedder.model
    prompt = (model.prompts or {}).get("passage", "")
    sizes = [len(model.tokenizer(prompt + c.embed_text)["input_ids"]) for c in chunks]
    assert max(sizes) <= model.max_seq_length, sizes
    assert len(chunks) > 2  # 2,000 characters of this text do not fit 512 tokens: it was split
    assert all(c.tokens == count_tokens(c.text, wide.token_encoding) for c in chunks)
