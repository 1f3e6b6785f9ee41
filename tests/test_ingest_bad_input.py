"""Bad input never stops the batch and never shows a traceback.

Each kind of bad file is refused with a Chinese reason naming what is wrong; through the CLI every
failed file gets exactly one line, the exit status is 1, and the good files are all in. A property
test feeds random bytes, and damaged copies of valid files, to every loader.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from ingest.loaders import LOADERS, LoadError, LoadOptions, read_file
from rag.index import KnowledgeBase
from rag.settings import Settings
from tests import makefiles as mf
from tests.conftest import ROOT
from tests.fakes import HashEmbedder

LIMITS = LoadOptions(max_bytes=1_000_000, max_unzipped_bytes=50_000_000)


def _junk(n: int = 4000, seed: int = 7) -> bytes:
    r = random.Random(seed)
    return bytes(r.randrange(1, 256) for _ in range(n))  # no NUL: the encoding checks must catch it


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _bomb(name: str, inflated_mb: int = 60) -> bytes:
    """A zip whose one member inflates to ``inflated_mb`` MB of zeros: ratio ~1000:1."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(name, "w", force_zip64=True) as member:
            for _ in range(inflated_mb):
                member.write(b"\0" * (1 << 20))
    return buf.getvalue()


def _huge_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (12000, 12000), 1).save(buf, format="PNG")  # 144 Mpx, a few KB on disk
    return buf.getvalue()


def _encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(mf.pdf_bytes([["保密内容"]]))))
    writer.encrypt("secret")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _docx_bytes() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return mf.docx_file(Path(tmp) / "x.docx", "标题", [("一", ["正文。"])]).read_bytes()


# name -> (content, the reason the report must give)
BAD: dict[str, tuple[object, str]] = {
    "empty.txt": (b"", "文件内容为空"),
    "blank.md": (b"  \n\n\t\n", "文件内容为空"),
    "only-front-matter.md": ("---\nid: x\n---\n".encode(), "文件内容为空"),
    "bad-front-matter.md": ("---\nid: [unclosed\n---\n正文".encode(), "文件头 YAML 格式错误"),
    "junk.txt": (_junk(), "无法识别的文本编码"),
    "junk.md": (_junk(seed=8), "无法识别的文本编码"),
    "nul.txt": (b"some text\x00\x00\x00more", "NUL"),
    "controls.txt": (b"\x01\x02\x03\x04\x05\x06" * 200, "控制字符"),
    "mixed-encodings.txt": ("正常的文字内容，客户投诉。".encode() + "这是GBK编码的部分。".encode("gbk"), "混用了 UTF-8"),
    "junk.jsonl": (b"not json\n{broken\n", "第 1 行不是合法 JSON"),
    "deep.jsonl": (b"[" * 200_000 + b"]" * 200_000, "嵌套过深|不是合法 JSON|应为 JSON 对象"),
    "rows-without-text.jsonl": (b'{"id": "a"}\n{"id": "b", "text": "  "}\n', "缺少文本字段"),
    "header-only.csv": (b"id,text\n", "没有数据行"),
    "no-text-column.csv": ("编号,备注\n1,无正文\n".encode(), "表头缺少文本列"),
    "nul.csv": (b"id,text\n1,ab\x00cd\n", "NUL"),
    "garbage.pdf": (b"%PDF-1.7\nthis is not really a pdf\n%%EOF\n", "PDF"),
    "truncated.pdf": (_half(mf.pdf_bytes([["第一条 为了规范征信活动。"] * 30] * 3)), "PDF"),
    "encrypted.pdf": (_encrypted_pdf(), "加密"),
    "junk.pdf": (_junk(seed=9), "PDF"),
    "garbage.docx": (b"PK\x03\x04 this is no zip", "DOCX 文件已损坏"),
    "truncated.docx": (_half(_docx_bytes()), "DOCX 文件已损坏"),
    "not-word.docx": (_zip({"hello.txt": b"a zip, but not a Word file"}), "DOCX 文件已损坏或格式不受支持"),
    "bomb.docx": (_bomb("word/document.xml"), "疑似压缩炸弹"),
    "garbage.xlsx": (_junk(seed=10), "XLSX 文件已损坏"),
    "not-excel.xlsx": (_zip({"xl/workbook.xml": b"<nope/>"}), "XLSX 文件已损坏或格式不受支持"),
    "bomb.xlsx": (_bomb("xl/worksheets/sheet1.xml"), "疑似压缩炸弹"),
    "junk.html": (_junk(seed=11), "无法识别的文本编码"),
    "empty-page.html": (b"<html><head><script>var a = 1;</script></head><body> </body></html>", "没有正文"),
    "junk.png": (_junk(seed=12), "不是有效的图片"),
    "truncated.png": (_half(mf.text_image(["TRUNCATED 123"])), "图片文件已损坏"),
    "huge.png": (_huge_png(), "图片过大"),
    "blank.png": (mf.text_image([]), "没有识别出文字"),
    "too-big.txt": ("大" * 400_000, "文件过大"),
    "program.exe": (b"MZ\x90\x00", "不支持的文件类型"),
    "no-extension": (b"plain words", "不支持的文件类型"),
}


def write(path: Path, content: object) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)  # type: ignore[union-attr]
    return path


@pytest.mark.parametrize("name", sorted(BAD))
def test_each_bad_file_is_refused_with_a_reason(tmp_path, name):
    content, reason = BAD[name]
    f = write(tmp_path / name, content)
    with pytest.raises(LoadError, match=reason) as err:
        read_file(f, LIMITS)
    assert "Traceback" not in str(err.value) and str(err.value).strip()


def test_a_file_with_some_bad_rows_loads_the_rest_and_says_which(tmp_path):
    f = tmp_path / "cases.jsonl"
    f.write_text('{"id": "ok-1", "text": "第一条好的。"}\nnot json\n{"id": "ok-2", "text": "第二条好的。"}\n[1, 2]\n',
                 encoding="utf-8")
    loaded = read_file(f, LIMITS)
    assert [d.doc_id for d in loaded.docs] == ["ok-1", "ok-2"]
    assert loaded.problem_line() == "第 2 行不是合法 JSON：Expecting value（等 2 处问题）；其余 2 篇已导入"


def test_a_zip_bomb_is_refused_before_anything_unpacks_it(tmp_path, monkeypatch):
    import docx

    f = write(tmp_path / "bomb.docx", _bomb("word/document.xml", inflated_mb=700))  # past the default limit too
    monkeypatch.setattr(docx, "Document", lambda *a, **k: pytest.fail("python-docx opened a zip bomb"))
    with pytest.raises(LoadError, match="解压后达 7\\d\\d MB，超过上限"):
        read_file(f, LoadOptions())


def run_ingest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tests.ingest_runner", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)


def test_a_batch_of_bad_files_through_the_cli(tmp_path):
    src = tmp_path / "batch"
    src.mkdir()
    for name, (content, _) in BAD.items():
        write(src / name, content)
    good = src / "good.jsonl"
    good.write_text("\n".join(json.dumps({"id": f"good-{i}", "text": f"第{i}条正常的投诉记录。"}, ensure_ascii=False)
                              for i in range(3)), encoding="utf-8")
    write(src / "good.md", "# 正常的文档\n冒充客服诱导转账的案例说明。")
    partial = write(src / "partial.jsonl", '{"id": "p-1", "text": "好的一行。"}\n{oops\n')
    env = {**os.environ, "XS_DATA_DIR": str(tmp_path / "data")}
    named = [str(src / "program.exe"), str(src / "no-extension")]  # named explicitly: attempted, refused
    r = run_ingest(env, str(src), *named, "--max-mb", "1")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    failed = [line for line in r.stderr.splitlines() if line.startswith("失败：")]
    assert sorted(Path(line.split("：")[1]).name for line in failed) == sorted(BAD)  # one line each
    for line in failed:
        name = Path(line.split("：")[1]).name
        assert any(part in line for part in BAD[name][1].split("|")), line
    assert [line for line in r.stderr.splitlines() if line.startswith("部分失败：")] == [
        f"部分失败：{partial}：第 2 行不是合法 JSON：Expecting property name enclosed in double quotes；其余 1 篇已导入"]
    assert f"失败 {len(BAD)}" in r.stdout and "新增 5" in r.stdout
    # the good documents are all in, and the stores agree
    kb = KnowledgeBase(Settings(data_dir=tmp_path / "data"), HashEmbedder())
    assert {d["doc_id"] for d in kb.ledger.documents()} >= {"good-0", "good-1", "good-2", "p-1"}
    assert len(kb.ledger.documents()) == 5
    assert kb.vectors.all_ids() == kb.ledger.done_chunk_ids() == set(kb.keyword_index().ids)


def test_a_clean_batch_exits_zero(tmp_path):
    f = write(tmp_path / "ok.txt", "客户反映：对方自称客服。")
    r = run_ingest({**os.environ, "XS_DATA_DIR": str(tmp_path / "data")}, str(f))
    assert (r.returncode, r.stderr.strip()) == (0, ""), r.stderr
    assert r.stdout.startswith("文件 1 个（失败 0）") and "新增 1" in r.stdout


def test_missing_paths_are_one_line_each(tmp_path):
    r = run_ingest({**os.environ, "XS_DATA_DIR": str(tmp_path / "data")}, str(tmp_path / "nope"), "/nonexistent.md")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert [line.split("：")[-1] for line in r.stderr.splitlines()] == ["文件或目录不存在", "文件或目录不存在"]


# -- property tests ---------------------------------------------------------------------------
SUFFIXES = sorted(LOADERS)


def _valid_samples() -> dict[str, bytes]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        xlsx = mf.xlsx_file(Path(tmp) / "x.xlsx", {"S": [["id", "text"], ["a", "正文内容。"]]}).read_bytes()
    return {
        ".pdf": mf.pdf_bytes([["第一条 不得收费删除逾期记录。"], ["第二页"]]),
        ".docx": _docx_bytes(),
        ".xlsx": xlsx,
        ".jsonl": '{"id": "a", "text": "正文。"}\n{"id": "b", "text": "第二行。"}\n'.encode(),
        ".csv": "id,text\na,正文。\n".encode("gbk"),
        ".html": "<html><body><h1>标题</h1><p>正文。</p></body></html>".encode(),
        ".md": "---\nid: m\n---\n# 标题\n正文。".encode(),
    }


VALID = _valid_samples()


def _check(tmp_path: Path, suffix: str, data: bytes) -> None:
    f = tmp_path / f"sample{suffix}"
    f.write_bytes(data)
    try:
        loaded = read_file(f, LIMITS)
    except LoadError as exc:
        assert str(exc).strip()
        return
    assert loaded.docs and all(d.doc_id and d.text.strip() for d in loaded.docs)


@hsettings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), suffix=st.sampled_from(SUFFIXES))
def test_random_bytes_never_raise_anything_but_a_load_error(tmp_path, data, suffix):
    _check(tmp_path, suffix, data)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from(sorted(VALID)), edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)),
                                                               min_size=1, max_size=12),
       cut=st.floats(0.05, 1.0))
def test_damaged_copies_of_valid_files_never_raise_anything_but_a_load_error(tmp_path, suffix, edits, cut):
    data = bytearray(VALID[suffix])
    for where, value in edits:
        data[min(int(where * len(data)), len(data) - 1)] = value
    _check(tmp_path, suffix, bytes(data[: max(1, int(cut * len(data)))]))
