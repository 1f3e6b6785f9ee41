from hypothesis import given, settings as hsettings, strategies as st

from rag.chunking import chunk_document, pack, split_sentences
from rag.documents import Document


def test_sentences_end_at_chinese_punctuation_and_keep_quotes():
    text = "第一条 不得催收。第二条 可以申诉！“你确定吗？”他问。\n新的一行"
    assert split_sentences(text) == ["第一条 不得催收。", "第二条 可以申诉！", "“你确定吗？”", "他问。", "新的一行"]


def test_chunks_keep_sentences_whole_and_respect_the_limit():
    sentences = [f"这是第{i}句话，内容是关于征信异议处理的说明。" for i in range(40)]
    chunks = pack(sentences, max_chars=120, overlap_chars=30)
    assert all(len(c) <= 120 for c in chunks)
    joined = "".join(sentences)
    for c in chunks:
        assert c in joined
        assert c.endswith("。")  # never cut inside a sentence


def test_overlong_sentence_is_cut_at_commas_then_hard():
    long = "，".join(["逾期记录不能花钱删除"] * 60) + "。"
    chunks = pack([long], max_chars=100, overlap_chars=0)
    assert all(len(c) <= 100 for c in chunks)
    assert "".join(chunks) == long


def test_headings_travel_as_context_not_as_text():
    doc = Document("reg-001", "# 征信业管理条例\n\n## 异议处理\n信息主体认为信息有误的，可以提出异议。\n\n## 罚则\n违反规定的，依法处罚。",
                   "regulation", "征信业管理条例")
    chunks = chunk_document(doc, 200, 20)
    assert [c.context for c in chunks] == ["征信业管理条例 / 征信业管理条例 / 异议处理", "征信业管理条例 / 征信业管理条例 / 罚则"]
    assert chunks[0].text == "信息主体认为信息有误的，可以提出异议。"
    assert chunks[0].embed_text.startswith("征信业管理条例")


def test_chunk_ids_are_deterministic_and_content_derived():
    doc = Document("case-0001", "客户称被收取服务费。要求退款。", "case")
    a, b = chunk_document(doc), chunk_document(doc)
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    changed = chunk_document(Document("case-0001", "客户称被收取服务费。要求全额退款。", "case"))
    assert changed[0].chunk_id != a[0].chunk_id


def test_token_counts_are_recorded_when_a_counter_is_given():
    doc = Document("d", "一二三四五。六七八九十。", "complaint")
    chunks = chunk_document(doc, count_tokens=len)
    assert chunks[0].tokens == len(chunks[0].text)


@hsettings(max_examples=60, deadline=None)
@given(st.text(min_size=0, max_size=600), st.integers(20, 300))
def test_chunking_never_loses_text_nor_exceeds_the_limit(text, limit):
    doc = Document("p", text, "complaint")
    chunks = chunk_document(doc, max_chars=limit, overlap_chars=0)
    assert all(len(c.text) <= limit for c in chunks)
    body = "".join(ch for ch in text if not ch.isspace())
    rebuilt = "".join(ch for c in chunks for ch in c.text if not ch.isspace())
    # headings are moved to context, so only compare when there are none
    if not any(line.lstrip().startswith("#") for line in text.splitlines()):
        assert rebuilt == body
