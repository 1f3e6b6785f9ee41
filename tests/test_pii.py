"""Tests for rag.pii: masking for logs, roles and text sent to an external LLM."""

from __future__ import annotations

import io
import logging
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.pii import (
    DEFAULT_PII_TYPES,
    Masker,
    MaskingFilter,
    find_unmasked,
    install_log_masking,
    mask,
    mask_for_role,
)
from tests.test_entities import CARD_16, CARD_19, ID_AND_LUHN, VALID_ID, make_card, make_id

COMPLAINT = (
    f"请联系张经理，电话13812345678，微信 fawu_888，身份证{VALID_ID}，"
    f"卡号{CARD_16}，邮箱zhang@example.com，QQ 12345678，座机010-12345678。"
)


# --- mask ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("电话13812345678", "电话138****5678"),
        ("电话+86 138 1234 5678。", "电话138****5678。"),
        ("电话１３８１２３４５６７８", "电话138****5678"),
        (f"身份证{VALID_ID}", f"身份证{VALID_ID[:6]}********{VALID_ID[-4:]}"),
        (f"卡号{CARD_16}", f"卡号{CARD_16[:4]} **** **** {CARD_16[-4:]}"),
        (f"卡号{CARD_19}", f"卡号{CARD_19[:4]} **** **** {CARD_19[-4:]}"),
        (f"号码{ID_AND_LUHN}", f"号码{ID_AND_LUHN[:6]}********{ID_AND_LUHN[-4:]}"),
        ("邮箱zhang@example.com", "邮箱z***@example.com"),
        ("微信 fawu_888", "微信 f***"),
        ("QQ：123456789", "QQ：1***"),
        ("座机010-12345678", "座机010-****5678"),
        ("座机0755-1234567", "座机0755-***4567"),
    ],
)
def test_mask(text, expected):
    assert mask(text) == expected
    assert find_unmasked(expected) == []


@pytest.mark.parametrize(
    "text",
    [
        "电话138****5678",
        "身份证110101********1234",
        "卡号6222 **** **** 1234",
        "邮箱z***@example.com",
        "座机010-****5678",
        "客服电话95588，400-123-4567",  # public service numbers are not personal data
        "借了3000元，2024年3月5日，安心法务",  # not personal data
    ],
)
def test_masked_and_non_personal_text_is_left_as_is(text):
    assert mask(text) == text
    assert find_unmasked(text) == []


def test_mask_whole_complaint():
    masked = mask(COMPLAINT)
    assert masked == (
        f"请联系张经理，电话138****5678，微信 f***，身份证{VALID_ID[:6]}********{VALID_ID[-4:]}，"
        f"卡号{CARD_16[:4]} **** **** {CARD_16[-4:]}，邮箱z***@example.com，QQ 1***，座机010-****5678。"
    )
    assert mask(masked) == masked


def test_mask_only_selected_types():
    assert mask("电话13812345678，邮箱zhang@example.com", ["email"]) == (
        "电话13812345678，邮箱z***@example.com"
    )


def test_find_unmasked_reports_raw_values():
    found = find_unmasked(COMPLAINT)
    assert [e.type for e in found] == [
        "mobile", "wechat", "id_card", "bank_card", "email", "qq", "landline",
    ]
    assert {e.type for e in found} == set(DEFAULT_PII_TYPES)
    assert find_unmasked("电话138****5678，电话13912345678")[0].normalized == "13912345678"


# --- roles --------------------------------------------------------------------------------------
def test_frontline_never_sees_id_card_or_mobile_numbers():
    shown = mask_for_role(COMPLAINT, "frontline")
    assert VALID_ID not in shown and CARD_16 not in shown and "13812345678" not in shown
    assert "zhang@example.com" in shown  # frontline masks identity numbers only


@pytest.mark.parametrize("role", ["investigator", "admin"])
def test_investigators_and_admins_see_raw_text(role):
    assert mask_for_role(COMPLAINT, role) == COMPLAINT


def test_unknown_role_is_refused_by_name():
    with pytest.raises(ValueError, match="guest"):
        mask_for_role(COMPLAINT, "guest")


# --- Masker -------------------------------------------------------------------------------------
def test_masker_placeholders_and_round_trip():
    masker = Masker()
    masked = masker.mask(COMPLAINT)
    assert masked == (
        "请联系张经理，电话[手机号1]，微信 [微信1]，身份证[身份证1]，卡号[银行卡1]，"
        "邮箱[邮箱1]，QQ [QQ1]，座机[座机1]。"
    )
    assert masker.unmask(masked) == COMPLAINT


def test_masker_same_value_same_placeholder_across_calls():
    masker = Masker()
    first = masker.mask("电话13812345678，另一个13900001111")
    second = masker.mask("他又用13812345678打来")
    assert first == "电话[手机号1]，另一个[手机号2]"
    assert second == "他又用[手机号1]打来"
    assert masker.unmask("请核实[手机号2]和[手机号1]") == "请核实13900001111和13812345678"


def test_masker_spellings_of_one_number_share_a_placeholder():
    masker = Masker()
    assert masker.mask("138 1234 5678 和 13812345678") == "[手机号1] 和 [手机号1]"
    assert masker.unmask("[手机号1]") == "138 1234 5678"  # the first spelling seen


def test_masker_leaves_unknown_placeholders_alone():
    masker = Masker()
    masker.mask("电话13812345678")
    assert masker.unmask("[手机号1] [手机号9] [银行卡1] [其他1]") == (
        "13812345678 [手机号9] [银行卡1] [其他1]"
    )


def test_masker_does_not_issue_a_placeholder_already_in_the_text():
    masker = Masker()
    text = "模板里写着[手机号1]，真实号码13812345678"
    masked = masker.mask(text)
    assert masked == "模板里写着[手机号1]，真实号码[手机号2]"
    assert masker.unmask(masked) == text


def test_masker_masks_given_names_only():
    masker = Masker()
    text = "张三说李四借了钱，张三的电话13812345678"
    masked = masker.mask(text, names=["张三", "李四", " "])
    assert masked == "[姓名1]说[姓名2]借了钱，[姓名1]的电话[手机号1]"
    assert masker.unmask(masked) == text
    assert Masker().mask(text) == "张三说李四借了钱，张三的电话[手机号1]"


def test_masker_keeps_already_masked_values():
    assert Masker().mask("电话138****5678") == "电话138****5678"


# --- logging ------------------------------------------------------------------------------------
@pytest.fixture
def log_stream():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        yield stream, handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_masking_filter_masks_message_args_and_traceback(log_stream):
    stream, handler = log_stream
    handler.addFilter(MaskingFilter())
    log = logging.getLogger("xiansuo.test")
    log.info("来电 %s，卡号 %s", "13812345678", CARD_16)
    try:
        raise ValueError(f"身份证 {VALID_ID} 校验失败")
    except ValueError:
        log.exception("处理失败 %(who)s", {"who": "zhang@example.com"})
    written = stream.getvalue()
    assert "138****5678" in written and "z***@example.com" in written
    assert f"{VALID_ID[:6]}********" in written and "校验失败" in written
    assert find_unmasked(written) == []


def test_without_the_filter_pii_reaches_the_log(log_stream):
    stream, _ = log_stream
    logging.getLogger("xiansuo.test").info("来电 %s", "13812345678")
    assert [e.type for e in find_unmasked(stream.getvalue())] == ["mobile"]


def test_install_log_masking_is_idempotent(log_stream):
    stream, handler = log_stream
    assert install_log_masking() >= 1
    install_log_masking()
    assert sum(isinstance(f, MaskingFilter) for f in handler.filters) == 1
    logging.getLogger("xiansuo.test").warning("微信 %s", "fawu_888")
    assert stream.getvalue() == "WARNING 微信 f***\n"


# --- properties ---------------------------------------------------------------------------------
filler = st.text(alphabet=list("的了是我他在，。！？、请联系电话客服借款还款逾期催收"), min_size=1, max_size=8)
mobiles = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
id_cards = st.builds(
    lambda region, born, seq: make_id(f"{region}{born:%Y%m%d}{seq:03d}"),
    st.sampled_from(["110101", "310104", "440305", "510107"]),
    st.dates(min_value=date(1950, 1, 1), max_value=date(2005, 12, 31)),
    st.integers(0, 999),
)
cards = st.from_regex(r"62[0-9]{13,16}", fullmatch=True).map(make_card)
emails = st.builds(
    "{}@{}".format,
    st.from_regex(r"[a-z][a-z0-9]{2,8}", fullmatch=True),
    st.sampled_from(["qq.com", "163.com", "example.cn"]),
)
wechats = st.from_regex(r"[a-z][a-z0-9_]{5,12}", fullmatch=True).map("微信 {}".format)
qqs = st.integers(10000, 9_999_999_999).map("QQ{}".format)
landlines = st.builds(
    "{}-{}".format, st.sampled_from(["010", "021", "0755"]), st.from_regex(r"[2-8][0-9]{7}", fullmatch=True)
)
pii_value = st.one_of(mobiles, id_cards, cards, emails, wechats, qqs, landlines)
texts_with_pii = st.lists(st.tuples(filler, pii_value), min_size=1, max_size=6).map(
    lambda parts: "".join(f + v for f, v in parts) + "。"
)


@settings(max_examples=200)
@given(texts_with_pii)
def test_masker_round_trip_on_texts_with_pii(text):
    masker = Masker()
    masked = masker.mask(text)
    assert find_unmasked(text), "the generator must produce detectable PII"
    assert find_unmasked(masked) == []
    assert masker.unmask(masked) == text


@settings(max_examples=200)
@given(texts_with_pii)
def test_mask_leaves_nothing_unmasked(text):
    masked = mask(text)
    assert find_unmasked(masked) == []
    assert mask(masked) == masked
    assert all(e.value not in masked for e in find_unmasked(text))


@settings(max_examples=300)
@given(st.text())
def test_mask_and_masker_on_arbitrary_text(text):
    assert find_unmasked(mask(text)) == []
    masker = Masker()
    assert masker.unmask(masker.mask(text)) == text
