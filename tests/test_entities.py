"""Tests for rag.entities: identifier extraction from Chinese complaint, chat and SMS text."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.entities import ENTITY_TYPES, Entity, extract

# --- check-digit helpers, written here from the standards (not from stdnum) ---------------------
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643, ISO 7064 MOD 11-2


def make_id(body17: str) -> str:
    total = sum(int(d) * w for d, w in zip(body17, ID_WEIGHTS, strict=True))
    return body17 + "10X98765432"[total % 11]


def bad_id(number: str) -> str:
    """The same number with a wrong check digit."""
    wrong = next(c for c in "0123456789X" if c != number[-1])
    return number[:-1] + wrong


def luhn_digit(payload: str) -> str:
    total = 0
    for i, d in enumerate(reversed(payload)):
        n = int(d) * (2 if i % 2 == 0 else 1)  # the check digit will sit right of payload[-1]
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def make_card(payload: str) -> str:
    return payload + luhn_digit(payload)


def bad_card(card: str) -> str:
    return card[:-1] + str((int(card[-1]) + 1) % 10)


def is_luhn(number: str) -> bool:
    return luhn_digit(number[:-1]) == number[-1]


VALID_ID = make_id("11010119900307123")
ID_WITH_X = next(
    n for n in (make_id(f"44030519851120{s:03d}") for s in range(1000)) if n.endswith("X")
)
# A valid ID number that also passes Luhn: it must still come out as id_card.
ID_AND_LUHN = next(
    n for n in (make_id(f"31010419780615{s:03d}") for s in range(1000)) if is_luhn(n)
)
CARD_16 = make_card("622202123456789")
CARD_19 = make_card("621700123456789012")
CARD_16_SPACED = " ".join(CARD_16[i : i + 4] for i in range(0, 16, 4))


def pairs(text: str, types=None) -> list[tuple[str, str]]:
    return [(e.type, e.normalized) for e in extract(text, types)]


def assert_offsets(text: str, entities: list[Entity]) -> None:
    previous_end = 0
    for e in entities:
        assert 0 <= e.start < e.end <= len(text)
        assert text[e.start : e.end] == e.value
        assert e.start >= previous_end, "entities overlap or are out of order"
        previous_end = e.end


def test_helpers_agree_with_published_examples():
    assert make_id("11010519491231002") == "11010519491231002X"  # GB 11643 sample
    assert make_card("7992739871") == "79927398713"  # the textbook Luhn example
    assert bad_id(VALID_ID) != VALID_ID and bad_card(CARD_16) != CARD_16
    assert ID_WITH_X.endswith("X") and is_luhn(ID_AND_LUHN)


# --- full extraction, table-driven --------------------------------------------------------------
CASES = [
    # mobile
    ("请联系张经理，电话13812345678，微信 fawu_888",
     [("mobile", "13812345678"), ("wechat", "fawu_888")]),
    ("催收员手机 138 1234 5678 天天打", [("mobile", "13812345678")]),
    ("号码138-1234-5678是对方的", [("mobile", "13812345678")]),
    ("来电+86 139 8765 4321", [("mobile", "13987654321")]),
    ("短信来自8615912345678。", [("mobile", "15912345678")]),
    ("尾号显示138****1234的号码", [("mobile", "138****1234")]),
    ("对方手机138xxxx1234", [("mobile", "138****1234")]),
    ("电话：１３８１２３４５６７８", [("mobile", "13812345678")]),
    ("两个号码：13812345678、19900001111", [("mobile", "13812345678"), ("mobile", "19900001111")]),
    # landline and service numbers
    ("座机010-12345678找李律师", [("landline", "010-12345678")]),
    ("(021)87654321是他们办公室", [("landline", "021-87654321")]),
    ("（０２１）８７６５４３２１", [("landline", "021-87654321")]),
    ("深圳0755-1234567", [("landline", "0755-1234567")]),
    ("电话075512345678", [("landline", "0755-12345678")]),
    ("客服400-123-4567或4009876543", [("landline", "400-123-4567"), ("landline", "400-987-6543")]),
    ("银行客服95588说", [("landline", "95588")]),
    # id_card
    (f"身份证号{VALID_ID}，", [("id_card", VALID_ID)]),
    (f"身份证{ID_WITH_X.lower()}", [("id_card", ID_WITH_X)]),
    (f"身份证 {VALID_ID[:6]} {VALID_ID[6:14]} {VALID_ID[14:]} 请核实", [("id_card", VALID_ID)]),
    (f"身份证号{ID_AND_LUHN}", [("id_card", ID_AND_LUHN)]),
    ("身份证110101********1234已脱敏", [("id_card", "110101********1234")]),
    ("证件号110101xxxxxxxx123x", [("id_card", "110101********123X")]),
    # bank_card
    (f"银行卡号{CARD_16}", [("bank_card", CARD_16)]),
    (f"打款到卡号：{CARD_16_SPACED}，", [("bank_card", CARD_16)]),
    (f"收款卡{CARD_19}户名王某", [("bank_card", CARD_19)]),
    ("卡号6222 **** **** 1234", [("bank_card", "6222********1234")]),
    ("尾号卡622202******1234", [("bank_card", "622202******1234")]),
    # wechat
    ("微信号：Fawu_888", [("wechat", "fawu_888")]),
    ("加VX: abc123456 详聊", [("wechat", "abc123456")]),
    ("加V fawu888咨询", [("wechat", "fawu888")]),
    ("薇信 zhang-san1", [("wechat", "zhang-san1")]),
    ("V信是Kefu2024", [("wechat", "kefu2024")]),
    ("wx：debt_help01", [("wechat", "debt_help01")]),
    ("对方给了wxid_abc12345", [("wechat", "wxid_abc12345")]),
    ("微信：ｆａｗｕ８８８", [("wechat", "fawu888")]),
    # qq
    ("QQ：123456789", [("qq", "123456789")]),
    ("扣扣 88886666", [("qq", "88886666")]),
    ("企鹅号1234567", [("qq", "1234567")]),
    ("qq群 987654321", [("qq", "987654321")]),
    # email and url
    ("邮箱Zhang.San@Example.COM", [("email", "zhang.san@example.com")]),
    ("发到ＡＢＣ＠ＱＱ．ＣＯＭ", [("email", "abc@qq.com")]),
    ("QQ邮箱12345678@qq.com", [("email", "12345678@qq.com")]),
    ("访问http://abc-fawu.com/login?id=1。", [("url", "abc-fawu.com/login?id=1")]),
    ("网址www.fawu.top/ab，", [("url", "fawu.top/ab")]),
    ("登录abc-fawu.com申请", [("url", "abc-fawu.com")]),
    ("点击 XXX.CN 领取", [("url", "xxx.cn")]),
    ("分析报告写作 hxxps://chxf-vip[.]top/dl，勿点", [("url", "chxf-vip.top/dl")]),  # defanged, as analysts write it
    ("域名 chenghu-jk[.]vip 已封", [("url", "chenghu-jk.vip")]),
    ("链接HTTPS://Fawu.VIP/Path.", [("url", "fawu.vip/Path")]),
    ("短链t.cn/A6xYz9k点开", [("url", "t.cn/A6xYz9k")]),
    # org
    ("他们自称是深圳市前海安心法务公司的", [("org", "深圳市前海安心法务公司")]),
    ("找了「安心债务规划」帮忙", [("org", "安心债务规划")]),
    ("委托北京市金诚律师事务所发函", [("org", "北京市金诚律师事务所")]),
    ("联系安心法务处理", [("org", "安心法务")]),
    ("广州恒信信息技术有限公司催收", [("org", "广州恒信信息技术有限公司")]),
    ("一家叫诚信维权中心的", [("org", "诚信维权中心")]),
    # amount
    ("借了3000元", [("amount", "3000")]),
    ("还款3,000.50元", [("amount", "3000.5")]),
    ("额度1.2万元", [("amount", "12000")]),
    ("要交5万保证金", [("amount", "50000")]),
    ("转账￥2000", [("amount", "2000")]),
    ("服务费人民币 800 元", [("amount", "800")]),
    ("收了３０００块钱", [("amount", "3000")]),
    # date
    ("2024年3月5日借款", [("date", "2024-03-05")]),
    ("于2024-03-05放款", [("date", "2024-03-05")]),
    ("2024/3/5", [("date", "2024-03-05")]),
    ("2024.03.05", [("date", "2024-03-05")]),
    ("3月5日还款", [("date", "--03-05")]),
    ("２０２４年１２月３１号", [("date", "2024-12-31")]),
    # written as short complaints write them
    ("请与其联系，电话0371-6000-2815，请勿再拨", [("landline", "0371-60002815")]),
    ("联系电话021-6000-3317。", [("landline", "021-60003317")]),
    ("过一单结一单，微信聊：zhudai_lk88", [("wechat", "zhudai_lk88")]),
    ("受托人处盖着南宁市聚安信用管理有限公司的章", [("org", "南宁市聚安信用管理有限公司")]),
    ("——合肥望信法律咨询", [("org", "合肥望信法律咨询")]),
    ("对方自称正道律师团队的人", [("org", "正道律师团队")]),
    # several types in one complaint
    ("2024年3月5日接到13812345678来电，自称安心法务，要求转账1.2万元到" + CARD_16,
     [("date", "2024-03-05"), ("mobile", "13812345678"), ("org", "安心法务"),
      ("amount", "12000"), ("bank_card", CARD_16)]),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_extract_finds_and_normalises(text, expected):
    entities = extract(text)
    assert [(e.type, e.normalized) for e in entities] == expected
    assert_offsets(text, entities)


# --- things that must not be found ------------------------------------------------------------
NEGATIVES = [
    ("订单号202403051234567890123", None),  # 21-digit order number
    ("流水号 6222 0212 3456 7890 1234", None),  # five groups: 20 digits
    ("订单号：" + CARD_16, None),  # Luhn-valid, but an order number
    ("编号" + VALID_ID, None),
    ("电话12812345678", ["mobile"]),  # no mobile prefix 12x
    ("号码1381234567", ["mobile"]),  # 10 digits
    ("号码138123456789", ["mobile"]),  # 12 digits
    (f"身份证{bad_id(VALID_ID)}", ["id_card"]),
    (f"身份证{bad_id(ID_WITH_X)}", ["id_card"]),
    ("身份证110101199013071234", ["id_card"]),  # month 13
    (f"卡号{bad_card(CARD_16)}", ["bank_card"]),
    (f"卡号{bad_card(CARD_19)}", ["bank_card"]),
    ("卡号0" + CARD_16[1:], ["bank_card"]),
    ("微信 12345678", ["wechat"]),  # a WeChat id starts with a letter
    ("微信：ab12", ["wechat"]),  # too short
    ("加微信同号", ["wechat"]),
    ("微信fawu888@163.com", ["wechat"]),  # that is an email
    ("QQ 0123456", ["qq"]),
    ("QQ 1234", ["qq"]),
    ("版本v1.2.3，文件合同.pdf", ["url"]),
    ("我找了一家法务公司", ["org"]),
    ("帮我做债务规划", ["org"]),
    ("还款方案一律由我中心法务对接", ["org"]),  # the speaker's own unit names nobody
    ("疑似工作室批量申请", ["org"]),
    ("2024年13月5日", ["date"]),
    ("2月30日", ["date"]),
    ("共3000笔", ["amount"]),
]


@pytest.mark.parametrize(("text", "types"), NEGATIVES)
def test_no_false_positive(text, types):
    assert extract(text, types) == []


def test_negatives_are_close_to_positives():
    # The negatives above are one step away from things that are found.
    assert pairs("卡号" + CARD_16) == [("bank_card", CARD_16)]
    assert pairs("身份证" + VALID_ID) == [("id_card", VALID_ID)]
    assert pairs("电话13812345678") == [("mobile", "13812345678")]


def test_valid_id_is_never_a_card_even_when_only_cards_are_asked_for():
    assert is_luhn(ID_AND_LUHN)
    assert extract("号码" + ID_AND_LUHN, ["bank_card"]) == []
    assert pairs("号码" + ID_AND_LUHN, ["id_card", "bank_card"]) == [("id_card", ID_AND_LUHN)]
    assert pairs("号码" + bad_id(ID_AND_LUHN), ["id_card"]) == []


def test_masked_id_wins_over_masked_card():
    assert pairs("110101********1234") == [("id_card", "110101********1234")]


def test_digit_runs_do_not_leak_shorter_matches():
    text = "订单" + "9" * 3 + "13812345678" + CARD_16
    assert extract(text, ["mobile", "bank_card", "id_card", "landline", "qq"]) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("电话：１３８１２３４５６７８。", "１３８１２３４５６７８"),
        ("身份证" + VALID_ID.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}), None),
    ],
)
def test_full_width_values_keep_original_offsets(text, value):
    [entity] = extract(text)
    assert text[entity.start : entity.end] == entity.value
    assert entity.normalized.isascii()
    if value is not None:
        assert entity.value == value


def test_offsets_point_into_the_original_text():
    text = "您好！微信 fawu_888，QQ：123456789，邮箱a@b.cn，2024年3月5日借款3000元。"
    entities = extract(text)
    assert [e.type for e in entities] == ["wechat", "qq", "email", "date", "amount"]
    assert_offsets(text, entities)
    assert text[entities[0].start : entities[0].end] == "fawu_888"


def test_types_filter():
    text = "电话13812345678，微信 fawu_888，借了3000元"
    assert pairs(text, ["wechat"]) == [("wechat", "fawu_888")]
    assert pairs(text, "amount") == [("amount", "3000")]
    assert pairs(text, []) == []


def test_unknown_type_is_named_in_the_error():
    with pytest.raises(ValueError, match="phone"):
        extract("13812345678", ["phone"])


def test_to_dict_and_immutability():
    [entity] = extract("电话13812345678")
    assert entity.to_dict() == {
        "type": "mobile", "value": "13812345678", "normalized": "13812345678", "start": 2, "end": 13,
    }
    assert not entity.masked and extract("138****1234")[0].masked
    with pytest.raises(AttributeError):
        entity.value = "x"  # type: ignore[misc]


# --- properties ---------------------------------------------------------------------------------
IDENTIFIER_ALPHABET = list(
    "0123456789 -*xX+@.:/()_abcfwqvQVWX微信号QQ扣法务公司律师事务所元万年月日号，。：（）１２３＠"
)


@settings(max_examples=300)
@given(st.one_of(st.text(), st.text(alphabet=IDENTIFIER_ALPHABET)))
def test_extract_never_raises_and_offsets_are_valid(text):
    entities = extract(text)
    assert all(e.type in ENTITY_TYPES for e in entities)
    assert_offsets(text, entities)


FOLDABLE = "0123456789abcdefxyzABCXYZ@._-+*/()"


def to_full_width(text: str) -> str:
    return text.translate({ord(c): ord(c) + 0xFEE0 for c in FOLDABLE})


@settings(max_examples=200)
@given(st.text(alphabet=list(FOLDABLE + " 微信QQ电话卡号元年月日，")))
def test_full_width_text_gives_the_same_entities(text):
    def key(t):
        return [(e.type, e.normalized, e.start, e.end) for e in extract(t)]

    assert key(to_full_width(text)) == key(text)


@given(
    mobile=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    sep=st.sampled_from(["", " ", "-"]),
    before=st.sampled_from(["电话", "手机：", "请拨打", "，"]),
)
def test_any_mobile_in_any_layout(mobile, sep, before):
    written = sep.join([mobile[:3], mobile[3:7], mobile[7:]])
    text = f"{before}{written}谢谢"
    assert pairs(text, ["mobile"]) == [("mobile", mobile)]


@given(
    region=st.sampled_from(["110101", "310104", "440305", "510107", "650102"]),
    born=st.dates(min_value=date(1940, 1, 1), max_value=date(2010, 12, 31)),
    seq=st.integers(0, 999),
)
def test_any_valid_id_is_found_and_a_wrong_check_digit_is_not(region, born, seq):
    number = make_id(f"{region}{born:%Y%m%d}{seq:03d}")
    assert pairs(f"身份证：{number}。") == [("id_card", number)]
    assert extract(f"身份证：{bad_id(number)}。", ["id_card"]) == []


@given(payload=st.from_regex(r"62[0-9]{13,16}", fullmatch=True))
def test_any_luhn_card_is_found_and_a_wrong_check_digit_is_not(payload):
    card = make_card(payload)
    found = pairs(f"卡号{card}，")
    assert found in ([("bank_card", card)], [("id_card", card)])  # an 18-digit card may be an ID
    assert extract(f"卡号{bad_card(card)}，", ["bank_card"]) == []
