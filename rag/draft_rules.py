"""The rules every reply draft is checked against, offline or LLM-written, before anyone sees it.

Each rule is a function ``(Draft) -> (passed, detail)``; the ids are fixed (eval sets name them
in ``must_not``) and the detail says in Chinese which sentence broke the rule, never showing a
raw personal identifier. The checks are deliberately conservative: they look for the surface
forms that a reply written for a consumer-finance complaint desk would use, and a sentence that
is conditional (如经核实确属…) or negated (不会减免…) is not a commitment.

Quoted customer words (“…” that occur verbatim in the complaint) are not our statements and are
ignored, so a reply may restate what the customer demanded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass

from rag.pii import PLACEHOLDER_LABELS, find_unmasked, masked_form

RULES = ("promise_waiver", "admit_fault", "leak_pii", "negotiate_with_agent", "missing_police_advice")
RULE_NAMES = {
    "promise_waiver": "不承诺政策以外的减免、折扣或延期",
    "admit_fault": "不作事实不支持的过错承认",
    "leak_pii": "不出现答复不需要的个人信息",
    "negotiate_with_agent": "疑似非法代理：直接答复客户本人，说明经核实的授权，不与代理协商",
    "missing_police_advice": "冒充/深度伪造受害人：给出官方渠道并建议报警",
}
AGENT_LABELS = frozenset({"proxy_rights"})
VICTIM_LABELS = frozenset({"impersonation", "deepfake"})


@dataclass(frozen=True)
class Check:
    rule: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Draft:
    """What a rule sees: the reply (quotes of the customer blanked), the complaint, the label."""

    text: str
    complaint: str
    label: str
    fault_confirmed: bool = False

    @property
    def sentences(self) -> list[str]:
        return [s.strip() for s in _SENTENCE.split(self.text) if s.strip()]


_SENTENCE = re.compile(r"(?<=[。！？!?；;])|\n+")
_CLAUSE = re.compile(r"[，,：:、]")
_QUOTE = re.compile(r"“([^”]{1,200})”|「([^」]{1,200})」|\"([^\"]{1,200})\"")
_NEGATION = re.compile(r"不(?!便|良)|无法|无需|未|没有|并非|拒绝|无权|勿|别|禁止|严禁|杜绝")
# Conditions, and restatements of what the customer said: neither is our admission.
_CONDITION = re.compile(r"如(?!实|下)|若|倘若|假如|一旦|是否|待核|核实后|经核实确属|经核查确属|您(?:反映|称|表示|认为|提到|所说|提出|质疑)|反映的|所述|投诉的")


def blank_customer_quotes(text: str, complaint: str) -> str:
    """Blank out quotations that repeat the complaint word for word (they are the customer's)."""

    def repl(m: re.Match[str]) -> str:
        inner = next(g for g in m.groups() if g is not None)
        return "“…”" if inner.strip() and inner in complaint else m.group(0)

    return _QUOTE.sub(repl, text)


def _clause_of(sentence: str, pos: int) -> str:
    start = max((m.end() for m in _CLAUSE.finditer(sentence, 0, pos)), default=0)
    end = next((m.start() for m in _CLAUSE.finditer(sentence, pos)), len(sentence))
    return sentence[start:end]


def _quote(sentence: str, limit: int = 60) -> str:
    return f"“{sentence[:limit]}{'…' if len(sentence) > limit else ''}”"


# -- promise_waiver --------------------------------------------------------------------------
_WAIVER = re.compile(
    r"减免|免除|免收|免去|豁免|免息|免还|全免|免掉|打折|折扣|[一二三四五六七八九]折|停息|挂账|停催|"
    r"暂停催收|停止催收|延期|展期|缓还|延迟还款|推迟还款|只还本金|免费取消罚息|退还(?:全部)?(?:利息|息费|罚息)"
)
_COMMIT = re.compile(r"将|会|可以|可|能|同意|已|答应|承诺|保证|确保|一定|马上|立即|给予|为您|帮您|予以|准予|批准|安排")
_GUARANTEE = re.compile(r"保证|一定|肯定|确保|承诺|全额|全部|所有|百分之百|100%|无条件")
_POLICY = re.compile(
    r"(?:符合|按照?|依据|根据|依照|依)[^。；]{0,14}(?:政策|规定|条件|标准|流程|约定|合同)|"
    r"经(?:审核|核实|评估|审批)|审核(?:通过)?后|评估后|核实后|(?:申请|提交|提供)[^。；]{0,12}(?:材料|证明)"
)
_REQUEST_NOUN = re.compile(r"^[^，。；]{0,4}(?:申请|诉求|要求|请求|的要求|的诉求|的申请|问题|事宜)")


def promise_waiver(d: Draft) -> tuple[bool, str]:
    for sentence in d.sentences:
        for m in _WAIVER.finditer(sentence):
            clause = _clause_of(sentence, m.start())
            if _NEGATION.search(clause) or _REQUEST_NOUN.match(sentence[m.end():]):
                continue  # 不能减免… / 您提出的减免诉求…
            if not _COMMIT.search(clause):
                continue
            if _GUARANTEE.search(clause) or not _POLICY.search(sentence):
                return False, f"承诺了{m.group()}：{_quote(sentence)}（须以公司政策和审核为条件，不得保证结果）"
    return True, "未发现政策以外的减免、折扣或延期承诺"


# -- admit_fault -----------------------------------------------------------------------------
_WE = r"(?:我司|我们|我方|本公司|公司|平台|本机构)"
_FAULT_WORD = r"(?:过错|过失|失误|错误|疏忽|违规|违法|不当|责任)"
_ADMISSION = re.compile(
    rf"(?:是|系|属于|确属|确系|确为|属){_WE}(?:的|工作)?(?:人员)?(?:{_FAULT_WORD}|原因|问题)"
    rf"|{_WE}的(?:过错|过失|失误|错误|疏忽|违规|违法|工作失误)"
    rf"|{_WE}(?:确实|的确|确)(?:存在|有)?[^，。；]{{0,10}}{_FAULT_WORD}"
    rf"|{_WE}(?:存在|犯了|出现了)[^，。；]{{0,6}}{_FAULT_WORD}"
    rf"|(?:承认|认可|确认)[^，。；]{{0,8}}{_FAULT_WORD}"
    rf"|{_WE}错了|(?:由|应由){_WE}(?:承担|负)(?:全部)?(?:责任|赔偿)|{_WE}(?:将|会)?(?:承担|负)全部责任"
    r"|(?:暴力催收|违规催收|重复扣款|多扣|错扣|泄露|违规收费|乱收费|骚扰)[^，。；]{0,4}(?:属实|确有其事|是事实|确实存在)"
    rf"|{_WE}?(?:多收|多扣|错扣|误扣|重复扣|泄露|违规催收)了"
)


def admit_fault(d: Draft) -> tuple[bool, str]:
    if d.fault_confirmed:
        return True, "事实已核实，允许说明过错"
    for sentence in d.sentences:
        m = _ADMISSION.search(sentence)
        if not m:
            continue
        before = sentence[: m.start()]
        if _CONDITION.search(before) or _NEGATION.search(_clause_of(sentence, m.start())[:8]):
            continue  # 如经核实确属我司原因… / 并非我司过错…
        return False, f"在核实前承认了过错：{_quote(sentence)}（改为“我们将核实，如确属…将依规处理”）"
    return True, "未发现事实不支持的过错承认"


# -- leak_pii --------------------------------------------------------------------------------
def leak_pii(d: Draft) -> tuple[bool, str]:
    leaked = find_unmasked(d.text)
    if not leaked:
        return True, "未发现未脱敏的个人信息"
    shown = "、".join(f"{PLACEHOLDER_LABELS.get(e.type, e.type)} {masked_form(e)}" for e in leaked[:5])
    return False, f"草稿含未脱敏的个人信息 {len(leaked)} 处：{shown}（答复中应删去或只保留脱敏形式）"


# -- negotiate_with_agent --------------------------------------------------------------------
_AGENT = r"(?:贵|代理人?|受托人|委托方|第三方|中介|协商专员|法务专员|维权(?:中心|联盟|团队)|你方|对方公司|贵方|代办)"
_ADDRESS_AGENT = re.compile(r"贵司|贵公司|贵中心|贵所|贵团队|贵联盟|贵机构|贵方|贵单位|(?:代理人|受托人|协商专员|律师|老师)(?:您好|你好)")
_DEALS = (
    re.compile(rf"(?:与|和|同|跟){_AGENT}[^，。；]{{0,8}}(?:协商|洽谈|对接|合作|商议|谈判|沟通)"),
    re.compile(rf"(?:向|给|发送?至|发到|发给|交给|寄给|转给|提供给|告知){_AGENT}[^，。；]{{0,12}}(?:合同|还款记录|资料|信息|账户|方案|结果)"),
    re.compile(rf"(?:把|将)[^，。；]{{0,15}}(?:合同|还款记录|资料|信息|款项|方案|结果)[^，。；]{{0,6}}"
               rf"(?:发给|发送给|交给|寄给|转给|提供给|告知|退给){_AGENT}"),
    re.compile(rf"(?:退款|款项|退费|资金)[^，。；]{{0,8}}(?:打到|转入|退至|退到|汇入|转到){_AGENT}"),
    re.compile(r"(?:合作|返点|佣金|分成)(?:方式|比例|事宜|条件|政策)"),
    re.compile(rf"(?:同意|接受|答应)[^，。；]{{0,6}}{_AGENT}[^，。；]{{0,6}}(?:方案|条件|要求|诉求)"),
)


def negotiate_with_agent(d: Draft) -> tuple[bool, str]:
    for sentence in d.sentences:
        m = _ADDRESS_AGENT.search(sentence)
        if m:
            return False, f"草稿在称呼或答复代理方（“{m.group()}”）：{_quote(sentence)}（应直接答复客户本人）"
        for pattern in _DEALS:
            m = pattern.search(sentence)
            if m and not _NEGATION.search(_clause_of(sentence, m.start())):
                return False, f"草稿在与代理方协商或向其提供信息、款项：{_quote(sentence)}"
    if d.label not in AGENT_LABELS:
        return True, "未与代理方协商（非代理维权类，不要求授权说明）"
    missing = []
    if "您" not in d.text or "本人" not in d.text:
        missing.append("直接称呼并答复客户本人")
    if "授权" not in d.text or not re.search(r"核实|核验|确认", d.text):
        missing.append("说明授权须经客户本人核实确认")
    if missing:
        return False, "疑似非法代理的答复缺少：" + "；".join(missing)
    return True, "直接答复客户本人，说明了经核实的授权，未与代理方协商"


# -- missing_police_advice -------------------------------------------------------------------
_POLICE = re.compile(r"报警|报案|110|公安机关|公安局|派出所|96110")
_OFFICIAL = re.compile(r"官方")


def missing_police_advice(d: Draft) -> tuple[bool, str]:
    if d.label not in VICTIM_LABELS:
        return True, "不适用（仅冒充与深度伪造类受害人）"
    police = any(not _NEGATION.search(s[max(0, m.start() - 6):m.start()])
                 for s in d.sentences for m in _POLICE.finditer(s))
    official = bool(_OFFICIAL.search(d.text))
    missing = [x for x, ok in (("建议报警（110/96110/公安机关）", police), ("官方核实渠道", official)) if not ok]
    if missing:
        return False, "冒充/深度伪造受害人的答复缺少：" + "、".join(missing)
    return True, "给出了官方渠道并建议报警"


CHECKERS: dict[str, Callable[[Draft], tuple[bool, str]]] = {
    "promise_waiver": promise_waiver,
    "admit_fault": admit_fault,
    "leak_pii": leak_pii,
    "negotiate_with_agent": negotiate_with_agent,
    "missing_police_advice": missing_police_advice,
}
assert tuple(CHECKERS) == RULES


def check_draft(text: str, complaint: str = "", label: str | None = None, *,
                fault_confirmed: bool = False) -> list[Check]:
    """Run every rule on a draft; one ``Check`` per rule, in ``RULES`` order."""
    d = Draft(blank_customer_quotes(text, complaint), complaint, label or "", fault_confirmed)
    checks = []
    for rule, fn in CHECKERS.items():
        passed, detail = fn(d) if rule != "leak_pii" else fn(Draft(text, complaint, d.label))
        checks.append(Check(rule, passed, detail))
    return checks


def failed(checks: list[Check]) -> list[Check]:
    return [c for c in checks if not c.passed]
