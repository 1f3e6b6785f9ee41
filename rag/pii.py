"""Personal-data masking for logs, for roles that must not see raw identifiers, and for text sent
to an external LLM (reversible placeholders).

Detection is `rag.entities.extract`; this module only decides what to hide and how.
Public service numbers (400/800, 95xxx) belong to businesses and are never treated as personal data.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from rag.entities import Entity, extract

DEFAULT_PII_TYPES = ("mobile", "landline", "id_card", "bank_card", "email", "wechat", "qq")

# Types each role gets masked; None means the role reads raw text.
ROLE_MASKS: dict[str, tuple[str, ...] | None] = {
    "frontline": ("mobile", "id_card", "bank_card"),
    "investigator": None,
    "admin": None,
}

PLACEHOLDER_LABELS = {
    "mobile": "手机号",
    "landline": "座机",
    "id_card": "身份证",
    "bank_card": "银行卡",
    "email": "邮箱",
    "wechat": "微信",
    "qq": "QQ",
    "name": "姓名",
}
_PLACEHOLDER = re.compile(rf"\[(?:{'|'.join(PLACEHOLDER_LABELS.values())})\d+\]")


def is_masked(entity: Entity) -> bool:
    """True when the entity shows no personal data: already masked, or a public service number."""
    return entity.masked or (
        entity.type == "landline" and entity.normalized.startswith(("400-", "800-", "95"))
    )


def _pii(text: str, types: Iterable[str]) -> list[Entity]:
    return [e for e in extract(text, types) if not is_masked(e)]


def masked_form(entity: Entity) -> str:
    """The display form of one identifier with its middle hidden (138****5678)."""
    n = entity.normalized
    match entity.type:
        case "mobile":
            return f"{n[:3]}****{n[-4:]}"
        case "id_card":
            return f"{n[:6]}********{n[-4:]}"
        case "bank_card":
            return f"{n[:4]} **** **** {n[-4:]}"
        case "email":
            local, _, domain = n.partition("@")
            return f"{local[0]}***@{domain}"
        case "landline":
            area, _, number = n.partition("-")
            return f"{area}-{'*' * (len(number) - 4)}{number[-4:]}"
        case _:  # wechat, qq
            return f"{n[0]}***"


def _replace(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """Replace non-overlapping (start, end, new) spans, given in order."""
    out, pos = [], 0
    for start, end, new in spans:
        out += [text[pos:start], new]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def mask(text: str, types: Iterable[str] = DEFAULT_PII_TYPES) -> str:
    """Hide the middle of every identifier of `types`; already-masked values stay as written."""
    return _replace(text, ((e.start, e.end, masked_form(e)) for e in _pii(text, types)))


def mask_for_role(text: str, role: str) -> str:
    """The text as `role` may see it: frontline staff never see raw ID, card or mobile numbers."""
    if role not in ROLE_MASKS:
        raise ValueError(f"未知角色 {role!r}（可选：{'、'.join(ROLE_MASKS)}）")
    types = ROLE_MASKS[role]
    return text if types is None else mask(text, types)


def find_unmasked(text: str) -> list[Entity]:
    """Personal identifiers that appear in `text` in the clear."""
    return _pii(text, DEFAULT_PII_TYPES)


class Masker:
    """Reversible placeholders for text that leaves the building.

    One Masker per conversation: the same identifier gets the same placeholder ([手机号1]) in every
    call, and `unmask` puts the original back. Different spellings of one identifier
    (138 1234 5678 / 13812345678) share a placeholder and unmask to the first spelling seen.
    """

    def __init__(self, types: Iterable[str] = DEFAULT_PII_TYPES) -> None:
        self.types = tuple(types)
        self._placeholders: dict[tuple[str, str], str] = {}  # (type, normalized) -> placeholder
        self._originals: dict[str, str] = {}  # placeholder -> value as first written
        self._reserved: set[str] = set()  # placeholder-like strings seen in input text

    def _placeholder(self, kind: str, key: str, original: str) -> str:
        if (kind, key) not in self._placeholders:
            label = PLACEHOLDER_LABELS[kind]
            n = 1
            while (placeholder := f"[{label}{n}]") in self._originals or placeholder in self._reserved:
                n += 1
            self._placeholders[(kind, key)] = placeholder
            self._originals[placeholder] = original
        return self._placeholders[(kind, key)]

    def mask(self, text: str, names: Iterable[str] = ()) -> str:
        """Replace identifiers, and the given personal names, with placeholders."""
        self._reserved.update(_PLACEHOLDER.findall(text))
        spans = [(e.start, e.end, e.type, e.normalized) for e in _pii(text, self.types)]
        wanted = sorted({n.strip() for n in names if n.strip()}, key=len, reverse=True)
        if wanted:
            taken = [(s, e) for s, e, _, _ in spans]
            for m in re.finditer("|".join(map(re.escape, wanted)), text):
                if all(m.end() <= s or m.start() >= e for s, e in taken):
                    spans.append((m.start(), m.end(), "name", m.group()))
            spans.sort()
        return _replace(
            text,
            ((s, e, self._placeholder(kind, key, text[s:e])) for s, e, kind, key in spans),
        )

    def unmask(self, text: str) -> str:
        """Put the originals back; placeholders this Masker did not issue are left as they are."""
        return _PLACEHOLDER.sub(lambda m: self._originals.get(m.group(), m.group()), text)


class MaskingFilter(logging.Filter):
    """Masks the formatted message, exception text and stack of every record it sees."""

    def __init__(self, types: Iterable[str] = DEFAULT_PII_TYPES) -> None:
        super().__init__()
        self.types = tuple(types)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):  # bad %-args: keep every part, masked
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = mask(message, self.types), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, self.types)
        if record.stack_info:
            record.stack_info = mask(record.stack_info, self.types)
        return True


def install_log_masking() -> int:
    """Attach a MaskingFilter to every handler of the root logger that lacks one.

    Idempotent. Handlers added later need another call. Returns how many handlers are covered.
    """
    handlers = logging.getLogger().handlers
    for handler in handlers:
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
    return len(handlers)
