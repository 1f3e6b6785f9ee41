"""Identifier extraction from Chinese complaint, chat and SMS text.

Each entity type has one compiled pattern, one validator and one normaliser, kept together in
`_RULES`. Matching runs on a width-folded copy of the text (full-width digits and letters mapped
1:1 to ASCII), so every offset is valid for the original text and `Entity.value` is the original span.

Overlaps are resolved longest first; on equal length the earlier rule in `_RULES` wins, which is
what makes a valid ID number an `id_card` and never a `bank_card`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from stdnum import luhn
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

ENTITY_TYPES = (
    "mobile", "landline", "id_card", "bank_card", "wechat", "qq",
    "email", "url", "org", "amount", "date",
)


@dataclass(frozen=True)
class Entity:
    type: str
    value: str  # the span as written in the original text
    normalized: str
    start: int
    end: int

    @property
    def masked(self) -> bool:
        """True when the text itself already hides part of the identifier (138****1234)."""
        return "*" in self.normalized

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# Full-width ASCII (U+FF01..U+FF5E) sits at a fixed offset from ASCII. Only characters that occur
# inside identifiers are folded; Chinese punctuation such as ，：？ stays as it is, so it still ends a URL.
_FOLD = {0x3000: " "} | {
    cp: chr(cp - 0xFEE0)
    for cp in range(0xFF01, 0xFF5F)
    if chr(cp - 0xFEE0).isalnum() or chr(cp - 0xFEE0) in "+-@._/*()"
}


def _fold(text: str) -> str:
    return text.translate(_FOLD)


def _digits(s: str) -> str:
    """Keep digits and mask characters, with every mask written as '*'."""
    return re.sub(r"[^0-9*]", "", re.sub(r"[xX]", "*", s))


def _context_before(m: re.Match[str], width: int = 12) -> str:
    start = m.start()
    return m.string[max(0, start - width):start]


_ORDER_CUE = re.compile(
    r"(?:订单|单号|流水|编号|合同|工单|交易号|运单|快递|账单|序列号|发票)[号码]*[：:\s]*$"
)


def _not_order_number(m: re.Match[str]) -> bool:
    return not _ORDER_CUE.search(_context_before(m))


def _always(m: re.Match[str]) -> bool:
    return True


# --- mobile -------------------------------------------------------------------------------------
_MOBILE = re.compile(
    r"(?<!\d)(?<!\d-)(?:(?:\+|00)?86[ -]?)?"
    r"1[3-9]\d[ -]?(?:\d{4}|[*xX]{4})[ -]?\d{4}(?!\d)(?!-\d)",
    re.ASCII,
)


def _normalize_mobile(s: str) -> str:
    return _digits(s)[-11:]


# --- landline (incl. 400/800 and 95xxx service numbers) -----------------------------------------
_LANDLINE = re.compile(
    r"""(?<!\d)(?<!\d-)(?:
        \(0(?:10|2\d)\)[ -]?\d{8}
      | \(0[3-9]\d{2}\)[ -]?\d{7,8}
      | 0(?:10|2\d)[ -]?(?:\d{8}|\d{4}[ -]\d{4}|\*{4}\d{4})  # 021-6000-3317
      | 0[3-9]\d{2}[ -]?(?:\d{7,8}|\d{3,4}[ -]\d{4}|\*{3,4}\d{4})
      | [48]00[ -]?\d{3}[ -]?\d{4}
      | 95\d{3}(?:\d|\d{3})?
    )(?!\d)(?![.,]\d)(?!\s*(?:元|块|万|千|亿))""",
    re.ASCII | re.VERBOSE,
)


def _normalize_landline(s: str) -> str:
    d = _digits(s)
    if d[:3] in ("400", "800"):
        return f"{d[:3]}-{d[3:6]}-{d[6:]}"
    if d.startswith("95"):
        return d
    area = 3 if d[1] in "12" else 4  # 010 and 02x are the only three-digit area codes
    return f"{d[:area]}-{d[area:]}"


# --- id_card ------------------------------------------------------------------------------------
_ID_CARD = re.compile(
    r"(?<![0-9A-Za-z*])(?:"
    r"[1-9]\d{5} ?\d{8} ?\d{3}[\dXx]"  # full number, optionally grouped 6-8-4
    r"|\d{1,6}[*xX]{8,16}\d{0,3}[\dXx]"  # masked: 110101********1234
    r")(?![0-9A-Za-z*])",
    re.ASCII,
)


def _id_body(s: str) -> str:
    return s.replace(" ", "").upper()


def _validate_id_card(m: re.Match[str]) -> bool:
    number = _id_body(m.group())
    if len(number) != 18 or not _not_order_number(m):
        return False
    if "*" in number or "X" in number[:-1]:
        return True  # masked: nothing left to check
    try:
        born = ric.get_birth_date(number)
    except ValidationError:
        return False
    return 1900 <= born.year <= 2100 and ric.calc_check_digit(number) == number[-1]


def _normalize_id_card(s: str) -> str:
    number = _id_body(s)
    return number[:-1].replace("X", "*") + number[-1]


# --- bank_card ----------------------------------------------------------------------------------
_BANK_CARD = re.compile(
    r"""(?<!\d)(?:
        [1-9]\d{15,18}(?!\d)
      | (?<!\d[ -])[1-9]\d{3}(?:[ -]\d{4}){3}(?:[ -]\d{1,3})?(?![ -]?\d)
      | [1-9]\d{3,5}[ -]?[*xX]{2,}(?:[ -][*xX]{2,})*[ -]?\d{4}(?!\d)
    )""",
    re.ASCII | re.VERBOSE,
)


def _validate_bank_card(m: re.Match[str]) -> bool:
    number = _digits(m.group())
    if "*" in number:
        return 12 <= len(number) <= 19
    return 16 <= len(number) <= 19 and luhn.is_valid(number) and _not_order_number(m)


# --- wechat / qq (the span is the id after the cue, group "v") ----------------------------------
_WECHAT = re.compile(
    r"""(?:
        (?:(?:微信|薇信|威信|[Vv]信)(?:号码?|ID|id)?(?:私聊|聊|联系|沟通)?  # 微信聊：xxx
          | 加[Vv](?![A-Za-z])
          | (?<![A-Za-z])加(?![Qq][Qq]\d)(?=[A-Za-z][A-Za-z0-9-]*[_\d])  # 加kefu_zx910: a bare 加 needs an id with _ or digits
          | (?<![A-Za-z])(?:[Vv][Xx]|[Ww][Xx])号?(?![A-Za-z0-9])
        )[是为]?[：:\s]*
      | (?<![A-Za-z0-9_])(?=wxid_)
    )
    (?P<v>wxid_[A-Za-z0-9_-]{4,30}|[A-Za-z][A-Za-z0-9_-]{5,19})
    (?![A-Za-z0-9_-])(?!@)(?!\.[A-Za-z])""",
    re.ASCII | re.VERBOSE,
)

_QQ = re.compile(
    r"(?<![A-Za-z])(?:[Qq][Qq]|扣扣|企鹅)(?:群号码?|号码?|群)?[是为]?[：:\s]*(?P<v>[1-9]\d{4,10})(?!\d)",
    re.ASCII,
)

# --- email / url --------------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+*-])[A-Za-z0-9._%+*-]+@[A-Za-z0-9][A-Za-z0-9-]*"
    r"(?:\.[A-Za-z0-9][A-Za-z0-9-]*)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])",
    re.ASCII,
)


def _validate_email(m: re.Match[str]) -> bool:
    local = m.group().split("@", 1)[0]
    return bool(re.search(r"[A-Za-z0-9]", local)) and not local.startswith(".")


_TLDS = (
    "com|cn|net|org|top|vip|xyz|cc|io|info|biz|site|online|club|shop|app|me|tv|co|ltd|"
    "work|icu|fun|link|live|pro|wang|ink|group|tech|store|win|bid|loan|hk|tw|mo"
)
# Only ASCII runs can be URL characters, so a CJK character or Chinese punctuation ends a URL;
# the closing look-behind drops trailing ASCII punctuation ("见 http://a.cn/x.").
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#@!$&'*+,;=%]"
# Defanged links, as analysts write them (hxxps://bad[.]top), are links too.
_DOT = r"(?:\.|\[\.\])"
_URL = re.compile(
    rf"""(?:
        (?:(?:https?|hxxps?)://|(?<![A-Za-z0-9@._-])www{_DOT})(?:\[\.\]|{_URL_CHARS})+
      | (?<![A-Za-z0-9@._%+*/-])[A-Za-z0-9][A-Za-z0-9-]*(?:{_DOT}[A-Za-z0-9][A-Za-z0-9-]*)*
        {_DOT}(?:{_TLDS})(?![A-Za-z0-9-])(?:/{_URL_CHARS}*)?
    )(?<![.,;:!?'*])""",
    re.ASCII | re.VERBOSE | re.IGNORECASE,
)


def _normalize_url(s: str) -> str:
    s = re.sub(r"^hxxp", "http", s.replace("[.]", "."), flags=re.IGNORECASE)  # refanged
    s = re.sub(r"^(?:https?://)?(?:www\.)?", "", s, flags=re.IGNORECASE).rstrip("/")
    host, slash, path = s.partition("/")
    return host.lower() + slash + path  # paths stay as written: short links are case-sensitive


# --- org ----------------------------------------------------------------------------------------
# Characters that cannot be part of a name: a name starts after the last of them (是/找/的/了 ...).
_ORG_STOP = "是找的了在给和与及或被叫说让把到从请称我你他她它们做帮办去要想会可没不就也都还又再只对跟向用将由这那该此"
# A stop character still belongs to a place name before 市/区/县/省 (成都市).
_ORG_CHAR = rf"(?:(?![{_ORG_STOP}])[\u4e00-\u9fff]|[{_ORG_STOP}](?=[市区县省]))"
_ORG_LEAD = "联系|委托|通过|自称|号称|名为|名叫|来自|属于|一家|加入|介绍|推荐|所谓|专业|正规"
# Words that end a lead-in inside a run of CJK characters: the name starts after them
# (合同抬头为东莞市…, 同盖章为广州市…, 本人已委托闵行区…); 致 only opens a line or clause.
_ORG_INTRO = rf"(?:{_ORG_CHAR}{{0,8}}(?:盖章为|抬头为|名称为|署名为|落款为|落款|代理人为|盖着|盖有|收款方是|收款方为|委托|授权|自称|号称|名为|名叫)|(?:(?<=^)|(?<=[\s，。：:；、]))致)"
_ORG_SUFFIXES = sorted(
    (
        "法务公司", "法务", "律师事务所", "律所", "咨询有限公司", "咨询公司", "债务规划", "债务优化",
        "债务重组", "维权中心", "维权联盟", "科技有限公司", "信息技术有限公司", "网络科技有限公司",
        "文化传媒有限公司", "文化传媒", "工作室", "服务中心", "调解中心", "有限责任公司",
        "股份有限公司", "有限公司", "资产管理公司", "商务咨询", "催收公司", "服务部", "咨询服务部",
        # trade names that drop the legal form (合肥望信法律咨询, 信维信用管理): the fronts' usual wording
        "法律咨询", "信用管理", "信用科技", "融资担保", "律师团队", "互助会",
    ),
    key=len,
    reverse=True,
)
_ORG = re.compile(
    rf"(?:{_ORG_INTRO}|{_ORG_LEAD})?(?P<v>(?P<p>{_ORG_CHAR}{{2,12}})(?:{'|'.join(_ORG_SUFFIXES)})+)"
)
_ORG_GENERIC = {"一家", "多家", "很多", "一些", "有些", "其他", "任何", "所谓", "专业", "正规", "什么", "各种", "某家",
                "贵司", "我司", "本司", "贵方", "我方", "公司",
                # an industry word and a legal form name nobody ("XX科技有限公司" in a template)
                "科技", "信息", "网络", "咨询", "文化", "传媒", "商务", "管理", "投资", "贸易", "实业", "金融", "服务",
                # the institution's or the speaker's own unit, and a guess (我中心法务, 疑似工作室)
                "中心", "本中心", "疑似"}


def _validate_org(m: re.Match[str]) -> bool:
    """Reject generic phrases, anonymised names (某装饰工程有限公司) and the institution itself
    (贵司法务部): none of them identifies an outside party."""
    name = m.group("p")
    return (name not in _ORG_GENERIC and not name.startswith(("多家", "什么", "某"))
            and not any(w in name for w in ("一家", "某家", "贵司", "我司", "本司")))


# --- amount -------------------------------------------------------------------------------------
_NUMBER = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_AMOUNT = re.compile(
    rf"""(?<![\d.,])(?:
        (?:[￥¥]|RMB|人民币)\s*{_NUMBER}(?:\s*(?:万元|万|千元|元|块))?
      | {_NUMBER}\s*(?:万元|万|千元|千|亿元|亿|元|块钱|块)
    )(?!\d)""",
    re.ASCII | re.VERBOSE,
)
_MULTIPLIERS = {"亿": 10**8, "万": 10**4, "千": 10**3}


def _normalize_amount(s: str) -> str:
    number = re.search(r"\d[\d,]*(?:\.\d+)?", s).group().replace(",", "")  # type: ignore[union-attr]
    factor = next((f for unit, f in _MULTIPLIERS.items() if unit in s), 1)
    return format((Decimal(number) * factor).normalize(), "f")


# --- date ---------------------------------------------------------------------------------------
_DATE = re.compile(
    r"""(?<!\d)(?:
        (?:19|20)\d{2}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*[日号]
      | (?:19|20)\d{2}(?P<sep>[-/.])\d{1,2}(?P=sep)\d{1,2}(?!\d)(?!\.\d)
      | \d{1,2}\s*月\s*\d{1,2}\s*[日号]
    )""",
    re.ASCII | re.VERBOSE,
)


def _date_parts(s: str) -> tuple[int | None, int, int]:
    parts = [int(p) for p in re.findall(r"\d+", s)]
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else (None, parts[0], parts[1])


def _validate_date(m: re.Match[str]) -> bool:
    year, month, day = _date_parts(m.group())
    try:
        date(year or 2000, month, day)  # 2000 is a leap year: 2月29日 stays valid without a year
    except ValueError:
        return False
    return True


def _normalize_date(s: str) -> str:
    year, month, day = _date_parts(s)
    return f"{year:04d}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"


# --- the table ----------------------------------------------------------------------------------
class _Rule(NamedTuple):
    pattern: re.Pattern[str]
    validate: Callable[[re.Match[str]], bool]
    normalize: Callable[[str], str]


# Order = precedence between equally long overlapping matches.
_RULES: dict[str, _Rule] = {
    "id_card": _Rule(_ID_CARD, _validate_id_card, _normalize_id_card),
    "bank_card": _Rule(_BANK_CARD, _validate_bank_card, _digits),
    "wechat": _Rule(_WECHAT, _always, str.lower),
    "qq": _Rule(_QQ, _always, str),
    "mobile": _Rule(_MOBILE, _always, _normalize_mobile),
    "landline": _Rule(_LANDLINE, _always, _normalize_landline),
    "email": _Rule(_EMAIL, _validate_email, str.lower),
    "url": _Rule(_URL, _always, _normalize_url),
    "org": _Rule(_ORG, _validate_org, str),
    "amount": _Rule(_AMOUNT, _always, _normalize_amount),
    "date": _Rule(_DATE, _validate_date, _normalize_date),
}
assert set(_RULES) == set(ENTITY_TYPES)

# Types whose detection must run whenever the key runs, so that the key never claims their matches.
_GUARDS = {"bank_card": ("id_card",)}


def _wanted_types(types: Iterable[str] | None) -> set[str]:
    if types is None:
        return set(ENTITY_TYPES)
    wanted = {types} if isinstance(types, str) else set(types)
    unknown = sorted(wanted - set(ENTITY_TYPES))
    if unknown:
        raise ValueError(f"未知的实体类型：{'、'.join(unknown)}（可选：{'、'.join(ENTITY_TYPES)}）")
    return wanted


def extract(text: str, types: Iterable[str] | None = None) -> list[Entity]:
    """Find identifiers in `text`: sorted by start, never overlapping, offsets into `text`."""
    wanted = _wanted_types(types)
    run = wanted | {g for t in wanted for g in _GUARDS.get(t, ())}
    folded = _fold(text)

    candidates: list[tuple[int, int, int, str, str]] = []  # (start, end, rank, type, normalized)
    for rank, (etype, rule) in enumerate(_RULES.items()):
        if etype not in run:
            continue
        for m in rule.pattern.finditer(folded):
            if not rule.validate(m):
                continue
            group = "v" if "v" in rule.pattern.groupindex else 0
            start, end = m.span(group)
            candidates.append((start, end, rank, etype, rule.normalize(m.group(group))))

    candidates.sort(key=lambda c: (c[0] - c[1], c[2], c[0]))  # longest, then rule order
    taken = bytearray(len(text))
    entities = []
    for start, end, _, etype, normalized in candidates:
        if taken.find(1, start, end) != -1:
            continue
        taken[start:end] = b"\x01" * (end - start)
        if etype in wanted:
            entities.append(Entity(etype, text[start:end], normalized, start, end))
    return sorted(entities, key=lambda e: e.start)
