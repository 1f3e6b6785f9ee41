"""Guards around every LLM call: untrusted text in, validated text out, personal data kept home.

Complaints and retrieved documents are written by outsiders — often by the very gangs under
investigation — so they are *data*, never instructions:

- **In**: :func:`fence` neutralises anything in untrusted text that could close or fake the
  prompt's own delimiters (``</投诉>``, ``<|im_start|>system``…) and strips invisible characters;
  the prompts put such text inside labelled tags and say that instructions in it are not obeyed;
  :func:`find_injection` names instruction-like passages (shown as a warning, never a block).
- **Out**: :func:`check_output` is shared by answers, triage and drafts: it rejects any output that
  carries the system prompt's canary (in any spelling), strips citations of sources that were not
  retrieved, removes links that do not occur in the sources' own text (a link that only occurs
  in a passage that addresses the assistant does not count) and every markdown or HTML image, and
  checks a label against the label set.
- **Personal data**: :class:`MaskedLLM` wraps a chat backend so that, for a non-local endpoint
  (unless ``llm_send_pii``), identifiers and marked names leave as reversible placeholders
  ([手机号1]) and are restored locally in the reply, streamed replies included.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rag.llm import ChatBackend, LLMReply
from rag.pii import Masker

CANARY_PREFIX = "XS-CANARY-"


class InputTooLong(ValueError):
    """A complaint, question or document is over the configured length; Chinese message."""


def check_length(text: str, limit: int, what: str = "投诉文本") -> str:
    if len(text) > limit:
        raise InputTooLong(f"{what}过长（{len(text)} 字），请控制在 {limit} 字以内。")
    return text


# ------------------------------------------------------------------------------------- in
# Invisible and direction-changing characters can hide instructions from the human reviewer.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]")
# Anything shaped like a tag or a chat-template token: it could close our delimiters or open a fake role.
_TAGLIKE = re.compile(r"<\s*/?\s*[\w\u4e00-\u9fff|:#\- ]{1,24}\s*/?\s*>|<\|[^|>]{0,24}\|>|\[/?INST\]", re.I)


def fence(text: str) -> str:
    """Untrusted text made safe to place inside a prompt's data tags."""
    text = _INVISIBLE.sub("", text or "")
    return _TAGLIKE.sub(lambda m: m.group(0).replace("<", "‹").replace(">", "›").replace("[", "［").replace("]", "］"),
                        text)


_AI = r"(?:AI|ai|人工智能|大模型|语言模型|模型|智能助手|助手|机器人|GPT|gpt|ChatGPT|assistant|Assistant|ASSISTANT|chatbot|LLM|llm)"
_RULES = r"(?:指令|指示|规则|提示词|提示|设定|约束|限制|命令|prompt|说明|要求)"
# An instruction starts a sentence, or follows a polite or urgent word, or addresses the assistant;
# "催收员无视所有规则" (a subject before the verb) is a complaint, not an instruction.
_IMPERATIVE = r"(?:^|(?<=[\s，,。.！!？?；;：:、】\]）)\"'“”])|请|你|您|现在|立即|立刻|马上|务必|必须|先|再|并|AI|助手|模型)"
_INJECTION_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("override", re.compile(
        r"(?:忽略|无视|忘记|忘掉|不要理会|别管|跳过|抛开|丢弃|作废|撤销|覆盖)(?:掉)?(?:你|您)?(?:的)?"
        r"(?:之前|以上|上面|前面|上述|先前|此前|原有|原来|原先|原始|开发者)"
        r"(?:的)?(?:所有|全部|一切|任何)?(?:的)?" + _RULES)),
    ("override", re.compile(
        _IMPERATIVE + r"(?:忽略|无视|忘记|忘掉|不要理会|别管|跳过|抛开|丢弃|作废|撤销|覆盖)(?:掉)?(?:你|您)?(?:的)?"
        r"(?:系统|所有|全部|一切|任何)(?:的)?(?:所有|全部|一切|任何)?(?:的)?" + _RULES)),
    ("override", re.compile(r"(?:新任务|新的任务|小任务|任务如下|以下规则优先|优先于你的)")),
    ("reveal", re.compile(r"内部标记|系统提示词|提示词|系统指令|隐藏指令|canary|system\s*prompt|internal marker", re.I)),
    ("channel", re.compile(
        r"在(?:你的|您的)?(?:回答|回复|答复|输出|草稿|总结|摘要)(?:中|里|末尾|结尾|开头|最后|时)[^。\n]{0,12}"
        r"(?:附上|加入|加上|插入|输出|写上|写出|包含|添加|嵌入|放上|告诉客户|提示客户|引导客户|给出链接)")),
    ("channel", re.compile(r"(?:你的|您的)(?:回答|回复|答复|输出)(?:中|里|末尾|结尾|开头|必须|务必|要)")),
    ("addressed", re.compile(
        r"(?:仅供|只供|只给|专供)(?:智能)?(?:助手|AI|模型|机器人|大模型)|人工(?:审核)?请(?:略过|忽略|跳过)"
        r"|(?:亲爱的|尊敬的|致)(?:智能)?(?:客服)?(?:助手|AI|机器人|大模型|模型)"
        r"|(?:AI|大模型|智能助手)[，,：:\s]{0,2}(?:麻烦|请你|请您|务必|必须)"
        r"|(?:模型|助手|AI)(?:下面|接下来|现在|随后)?(?:将|会)(?:按要求|按照要求|照做|在回答|把内部|输出)"
        r"|(?:接下来|下面)我将(?:在回答|把内部|输出)"
        r"|(?:开发人员|开发者|管理员|监管新规|主管)[^。\n]{0,6}(?:要求|命令|指示)你(?!们)")),
    ("role", re.compile(r"\[\s*(?:assistant|user|system)\s*\]|(?:^|(?<=[\s。.!?\"”]))(?:assistant|system)\s*:"
                        r"|(?:回答|助手|AI)\s*[:：]\s*(?:好的|当然|sure|ok|已确认)", re.I)),
    ("encoded", re.compile(r"(?:解码|decode)[^。\n]{0,6}(?:执行|照做|execute|follow|run)|(?:翻译|translate)[^。\n]{0,40}(?:照做|执行|遵照|follow it|obey|do it|then do)", re.I)),
    ("split", re.compile(r"(?:设|令|let|set)\s*[a-zA-Z]\s*[=＝]", re.I)),
    ("override", re.compile(r"(?:以下|下面|新的?|最新|最高优先级的?)(?:系统)?" + _RULES + r"(?:优先|为准|覆盖|替代|如下)")),
    ("role", re.compile(r"(?:你现在是|从现在起你是|从现在开始你是|你的新身份|你将扮演|请你?扮演|假装你是|你不再是|切换到.{0,8}模式|进入.{0,8}模式|开发者模式|越狱模式)")),
    ("reveal", re.compile(
        r"(?:输出|打印|透露|泄露|复述|重复|原样|逐字|告诉我|念出|写出|贴出|展示|公开)(?:一下|出来|出)?(?:你的|您的|你收到的|全部的?)?"
        r"(?:系统提示词|系统提示语|系统指令|系统消息|系统设定|内部标记|隐藏指令|初始指令|提示词|canary|system\s*prompt)", re.I)),
    ("channel", re.compile(
        r"(?:回答|回复|答复|输出|草稿|结果|总结|摘要)(?:中|里|时|的?末尾|的?最后|的?结尾|的?开头)?.{0,10}"
        r"(?:附上|加上|插入|包含|带上|添加|放上|嵌入|显示)(?:这个|以下|如下|下面的?|该)?(?:官方)?(?:链接|网址|图片|二维码|url|URL|超链接)")),
    ("label", re.compile(
        r"(?:把|将)(?:本|这|该|此|以上|上述)(?:条|份|个|封|则)?(?:投诉|工单|案件|线索|内容|信息|文本|消息)?.{0,6}"
        r"(?:标记|标注|分类|归类|判定|判为|定为|识别|归为|打标)(?:为|成)")),
    ("label", re.compile(r"(?:标签|label|分类结果|研判结果)(?:必须|只能|一律|直接)?(?:设为|设置为|改为|输出为?|写成|填)", re.I)),
    ("addressed", re.compile(_AI + r"\s*(?:请注意|注意[:：]|请你|请务必|务必|须知)|(?:致|给|对)" + _AI + r"(?:的)?(?:指令|说明|提示|消息)")),
    ("fake_delimiter", re.compile(
        r"</?\s*(?:资料|问题|投诉|相似案例|话术|标签|研判标签|system|assistant|user|instruction|instructions)\s*>|<\|im_start\|>|\[/?INST\]|###\s*(?:instruction|system)|【\s*系统(?:指令|消息|通知|提示)\s*】|\[\s*system\s*\]",
        re.I)),
    ("override", re.compile(
        r"(?:^|[.!?;:\n\"'“]\s*|\bplease\s+|\bnow,?\s+|\byou (?:must|should|will|shall)\s+|\b(?:ai|assistant|model|llm|gpt)[,:]?\s+)"
        r"(?:ignore|disregard|forget|override|bypass|skip)\b.{0,30}\b(?:previous|prior|above|earlier|preceding|all|any|your|the|system|original)\b.{0,20}"
        r"\b(?:instructions?|rules?|prompts?|directions?|guidelines?|constraints?|policies|messages?)\b", re.I)),
    ("role", re.compile(r"\b(?:you are now|from now on,? you|act as an?|pretend (?:to be|you are)|developer mode|jailbreak|DAN mode|new persona)\b", re.I)),
    ("reveal", re.compile(
        r"\b(?:print|reveal|repeat|output|show|leak|disclose|tell me|write out|echo)\b.{0,25}\b(?:system prompt|hidden (?:prompt|instructions?)|internal (?:marker|token|instructions?|notes?)|canary|initial instructions?|secret (?:marker|token))",
        re.I)),
    ("channel", re.compile(
        r"\b(?:include|add|append|insert|embed|attach|put|render|place)\b.{0,30}\b(?:link|url|image|picture|markdown|hyperlink|qr code)\b.{0,40}\b(?:answer|reply|response|output|draft|summary|end|message)\b",
        re.I)),
    ("channel", re.compile(r"\b(?:in|at the end of|at the start of) your (?:answer|reply|response|output)\b.{0,40}\b(?:include|add|append|insert|write|say|tell)\b", re.I)),
    ("label", re.compile(
        r"\b(?:classify|label|mark|tag|categori[sz]e|flag)\b.{0,30}\b(?:this|the|these)\b.{0,20}\b(?:complaint|ticket|case|message|item|text|lead)\b.{0,15}\bas\b|\b(?:set|change)\b.{0,10}\blabel\b.{0,10}\bto\b|\blabel\s*[:=]",
        re.I)),
    ("addressed", re.compile(r"\b(?:note to|attention|instructions? for|message for|dear)\s+(?:the\s+)?(?:ai|assistant|model|llm|chatbot|gpt|language model)\b", re.I)),
    ("override", re.compile(r"\b(?:system|admin|developer)\s+(?:override|instruction|message|notice|mode)\b|\bpriority 0\b|\byour new task\b|\bbefore answering\b|\bthe developers? (?:require|want|ask)", re.I)),
    ("channel", re.compile(r"\b(?:to|in|into|at the end of|at the start of|of) your (?:reply|answer|response|output|summary|draft)\b", re.I)),
    ("role", re.compile(r"\bas requested,? I will\b|\bI will now\b", re.I)),
]


def find_injection(text: str) -> list[tuple[str, str]]:
    """Instruction-like passages in untrusted text: (kind, matched text). A signal, not a verdict."""
    text = _INVISIBLE.sub("", text or "")
    found: list[tuple[str, str]] = []
    for kind, pattern in _INJECTION_PATTERNS:
        for m in pattern.finditer(text):
            found.append((kind, m.group(0)))
    return found


def injection_note(*texts: str) -> str:
    """A one-line Chinese warning when any of the texts looks like it addresses the assistant."""
    kinds = {k for t in texts for k, _ in find_injection(t)}
    if not kinds:
        return ""
    return "输入或检索到的资料中含有疑似“提示词注入”的指令性文字，已仅作为数据处理，未执行其中的指令。"


# ------------------------------------------------------------------------------------- canary
def new_canary() -> str:
    return f"{CANARY_PREFIX}{secrets.token_hex(6)}"


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", text or "").lower()


def leaks_canary(text: str, canary: str | None) -> bool:
    """True when the text carries the canary in any spelling: spaced, reversed, base64, or only
    its random part, or the canary prefix at all (only the system prompt ever contains it)."""
    if not text:
        return False
    flat = _squash(text)
    if _squash(CANARY_PREFIX) in flat or _squash(CANARY_PREFIX) in flat[::-1]:
        return True
    if not canary:
        return False
    secret = _squash(canary.removeprefix(CANARY_PREFIX))
    if secret and (secret in flat or secret in flat[::-1]):
        return True
    encoded = base64.b64encode(canary.encode()).decode().rstrip("=")
    return encoded[:16] in text


# ------------------------------------------------------------------------------------- links
_SCHEME_URL = (r"(?:javascript|vbscript|data):[^\s<>\"'，。；！？]+"
               r"|(?:https?|ftp|file):[^\s<>\"'()（）\[\]【】{}，。；！？]+")
_WWW_URL = r"www\.[^\s<>\"'()（）\[\]【】{}，。；！？]+"
_TLDS = ("com|cn|net|org|top|xyz|vip|cc|info|io|me|app|link|site|online|shop|club|ltd|pro|co|tk|ml|ga|icu|work|"
         "fun|ink|live|wang|biz|asia|hk|tw|ru|us|uk|cyou|buzz|sbs|bond|ren|kim|xin|store|tech|cloud|one")
_BARE_DOMAIN = (rf"(?<![@A-Za-z0-9.\-/])(?:[a-z0-9](?:[a-z0-9\-]{{0,61}}[a-z0-9])?\.)+(?:{_TLDS})(?![A-Za-z0-9\-])"
                r"(?::\d{2,5})?(?:/[^\s<>\"'()（）\[\]【】{}，。；！？]*)?")
_MD_IMAGE = r"!\[[^\]\n]{0,200}\]\([^)\n]{0,500}\)|!\[[^\]\n]{0,200}\]\[[^\]\n]{0,50}\]"
_MD_LINK = r"\[[^\]\n]{0,200}\]\(\s*(?P<md_url>[^)\s\n]{0,500})[^)\n]{0,200}\)"
_HTML = r"<\s*(?:img|image|a|iframe|script|object|embed|svg|link|meta|video|audio|source|form|input|style)\b[^>]{0,1000}>?|</\s*(?:a|script|iframe|object|svg|form|style)\s*>"
_REF_DEF = r"^\s{0,3}\[[^\]\n]{1,50}\]:\s*<?(?:[a-z][a-z0-9+.\-]*:|www\.|/)\S*.*$"
_LINKISH = re.compile(
    rf"(?P<image>{_MD_IMAGE})|(?P<html>{_HTML})|(?P<refdef>{_REF_DEF})|(?P<md>{_MD_LINK})|(?P<url>{_SCHEME_URL}|{_WWW_URL}|{_BARE_DOMAIN})",
    re.I | re.M,
)
REMOVED_LINK = "[链接已移除]"
REMOVED_IMAGE = "[图片已移除]"


TRUSTED_KINDS = frozenset({"regulation"})  # curated by the team; cases and scripts come from outside


def _text_of(source: Any) -> str:
    return str(source.get("text", "") if isinstance(source, dict) else getattr(source, "text", source) or "")


def _kind_of(source: Any) -> str:
    return str(source.get("kind", "") if isinstance(source, dict) else getattr(source, "kind", "") or "")


def link_allowlist(sources: Iterable[Any]) -> str:
    """The text links may be taken from: the sources, minus any source that addresses the
    assistant (a URL planted next to an instruction is the attacker's, not evidence)."""
    return "\n".join(t for t in map(_text_of, sources) if t and not find_injection(t))


def _url_allowed(url: str, allowed: str) -> bool:
    url = url.strip().rstrip(".,;:!?")
    if not url or url.lower().startswith(("javascript", "data", "vbscript", "file")):
        return False
    return url in allowed


def strip_links(text: str, sources: Sequence[Any], attributed: bool = False) -> tuple[str, int]:
    """Remove every image and HTML tag, and every link whose URL the sources do not contain.

    A source that addresses the assistant (:func:`find_injection`) lends no link. With
    ``attributed``, a link found only in an untrusted source (a case or script, not a regulation)
    is kept only on a line that cites that source ([S#]): quoted as evidence, not recommended.
    """
    sources = list(sources)
    clean = [(n, _text_of(s), _kind_of(s)) for n, s in enumerate(sources, start=1)]
    clean = [(n, t, k) for n, t, k in clean if t and not find_injection(t)]
    anywhere = "\n".join(t for _, t, k in clean if not attributed or k in TRUSTED_KINDS)
    removed = 0

    def cited_on_line(pos: int) -> set[int]:
        start = text.rfind("\n", 0, pos) + 1
        end = text.find("\n", pos)
        return {int(n) for n in _CITE.findall(text[start : end if end >= 0 else len(text)])}

    def repl(m: re.Match[str]) -> str:
        nonlocal removed
        if m.group("image") or m.group("html") or m.group("refdef"):
            removed += 1
            return REMOVED_IMAGE if m.group("image") or "img" in m.group(0).lower() else REMOVED_LINK
        url = m.group("md_url") if m.group("md") else m.group("url")
        if url and _url_allowed(url, anywhere):
            return m.group(0)
        if url and attributed:
            cited = cited_on_line(m.start())
            if _url_allowed(url, "\n".join(t for n, t, _ in clean if n in cited)):
                return m.group(0)
        removed += 1
        return REMOVED_LINK

    return _LINKISH.sub(repl, text), removed


_OPEN_TAIL = re.compile(
    r"(?:!?\[[^\]\n]{0,200}(?:\]\([^)\n]{0,500})?|<[^>\n]{0,1000}|(?:https?|ftp|file|javascript|data|vbscript|www)\S{0,500}"
    r"|[A-Za-z0-9][A-Za-z0-9.\-]{0,100}(?:/\S*)?)$", re.I)


def hold_open_tail(text: str) -> str:
    """A streaming preview without its last construct if that may still be growing into a link,
    an image or a tag (``![x](https://ev`` is a prefix of something the final check removes)."""
    m = _OPEN_TAIL.search(text)
    return text[: m.start()] if m else text


def foreign_links(text: str, sources: Iterable[Any]) -> list[str]:
    """Links and images in ``text`` that the sources do not contain (for scoring and tests)."""
    allowed = "\n".join(map(_text_of, sources))
    out = []
    for m in _LINKISH.finditer(text):
        if m.group("image") or m.group("html") or m.group("refdef"):
            out.append(m.group(0))
            continue
        url = (m.group("md_url") if m.group("md") else m.group("url")) or ""
        if url.strip().rstrip(".,;:!?") not in allowed or not url:
            out.append(m.group(0))
    return out


# ------------------------------------------------------------------------------------- citations
_CITE = re.compile(r"\[S(\d+)\]")


def check_citations(text: str, n_sources: int) -> tuple[str, list[int], list[int]]:
    """Strip citations of sources that were not retrieved; returns (text, valid, invalid)."""
    valid: list[int] = []
    invalid: list[int] = []

    def keep(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if 1 <= n <= n_sources:
            if n not in valid:
                valid.append(n)
            return m.group(0)
        invalid.append(n)
        return ""

    return _CITE.sub(keep, text), valid, invalid


# ------------------------------------------------------------------------------------- verdicts
@dataclass
class Checked:
    """What :func:`check_output` made of one model output."""

    text: str
    problems: list[str] = field(default_factory=list)  # "canary", "label": the output must be rejected
    notes: list[str] = field(default_factory=list)  # repairs made, in Chinese
    valid: list[int] = field(default_factory=list)
    invalid: list[int] = field(default_factory=list)
    links_removed: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check_label(label: Any, labels: Iterable[str]) -> bool:
    return isinstance(label, str) and label in set(labels)


def check_output(text: str, *, sources: Sequence[Any] = (), canary: str | None = None,
                 labels: Iterable[str] | None = None, label: Any = None, cite: bool = True) -> Checked:
    """Validate one model output. ``problems`` means reject it whole; ``notes`` lists repairs."""
    out = Checked(text or "")
    if leaks_canary(out.text, canary):
        out.problems.append("canary")
        out.notes.append("模型输出包含内部标记（疑似提示词注入），已拒绝")
        out.text = ""
        return out
    if labels is not None and not check_label(label, labels):
        out.problems.append("label")
        out.notes.append(f"模型给出的标签 {str(label)[:40]!r} 不在标签集合中，已拒绝")
    if cite:
        out.text, out.valid, out.invalid = check_citations(out.text, len(sources))
        if out.invalid:
            out.notes.append(f"已移除未检索到的引用：{', '.join(f'S{n}' for n in out.invalid)}")
    out.text, out.links_removed = strip_links(out.text, sources, attributed=True)
    if out.links_removed:
        out.notes.append(f"已移除 {out.links_removed} 个资料中不存在的链接或图片")
    return out


# ------------------------------------------------------------------------------------- personal data
_MARKED_NAME = re.compile(
    r"(?:姓名|客户姓名|本人姓名|借款人|借款人姓名|联系人|紧急联系人|户名|收款人|持卡人|投诉人|来电人)\s*[：:]\s*(?P<name>[\u4e00-\u9fff·]{2,5})(?=[\s，,。；;、）)]|$)")


def marked_names(text: str) -> list[str]:
    """Names written after a field label (姓名：张三, 借款人：李四); anonymised ones (张某) skipped."""
    return [m.group("name") for m in _MARKED_NAME.finditer(text or "") if "某" not in m.group("name")]


def needs_masking(settings) -> bool:
    """Personal data is masked before it leaves for a non-local endpoint, unless configured off."""
    return bool(settings.llm_configured and not settings.llm_is_local and not settings.llm_send_pii)


class MaskedLLM:
    """A chat backend whose requests carry placeholders instead of personal data; replies come
    back with the originals restored. One :class:`~rag.pii.Masker` per call, so placeholders are
    consistent within a request and never shared between users."""

    def __init__(self, llm: ChatBackend, names: Iterable[str] = ()) -> None:
        self.llm = llm
        self.name = llm.name
        self.names = tuple(names)
        self.last_masker: Masker | None = None  # for tests: what the last call sent

    def __getattr__(self, attr: str) -> Any:  # breaker, settings, as_runnable … of the wrapped backend
        return getattr(self.llm, attr)

    def _mask(self, messages: list[dict[str, str]]) -> tuple[Masker, list[dict[str, str]]]:
        masker = Masker()
        names = [*self.names, *(n for m in messages for n in marked_names(str(m.get("content", ""))))]
        masked = [{**m, "content": masker.mask(str(m.get("content", "")), names=names)} for m in messages]
        self.last_masker = masker
        return masker, masked

    def complete(self, messages: list[dict[str, str]]) -> LLMReply:
        masker, masked = self._mask(messages)
        reply = self.llm.complete(masked)
        reply.text = masker.unmask(reply.text)
        return reply

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        masker, masked = self._mask(messages)
        pending = ""
        for piece in self.llm.stream(masked):
            pending += piece
            cut = pending.rfind("[")
            if cut >= 0 and "]" not in pending[cut:] and len(pending) - cut <= 12:
                ready, pending = pending[:cut], pending[cut:]  # a placeholder may be arriving
            else:
                ready, pending = pending, ""
            if ready:
                yield masker.unmask(ready)
        if pending:
            yield masker.unmask(pending)


def protect(llm: ChatBackend | None, settings) -> ChatBackend | None:
    """The backend every task should use: masked for a non-local endpoint unless configured off."""
    if llm is None or isinstance(llm, MaskedLLM) or not needs_masking(settings):
        return llm
    return MaskedLLM(llm)
