"""回复起草: a reply to a complaint, grounded in the regulations that apply, checked before it is shown.

``Drafter.draft`` resolves the label (given, from a triage result, or from the triage engine),
retrieves regulation passages for the label and the complaint, and writes a Chinese reply that
cites them ``[S#]``. Offline, the reply is the label's template (``rag.draft_templates``) filled
from the complaint; with an LLM it comes from ``prompts/draft``. Either way every draft is checked
against ``rag.draft_rules``; a failing LLM draft is regenerated once with the failures as feedback,
then replaced by the offline draft, and a draft that still fails is returned flagged, never as fine.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from rag.answer import check_citations, citations_for, content_terms, sources_for_prompt
from rag.chunking import split_sentences
from rag.documents import Hit
from rag.draft_rules import RULE_NAMES, Check, check_draft, failed
from rag.draft_templates import INSTITUTION, LABEL_NAMES, TEMPLATES, Line, Template, topics_for
from rag.entities import extract
from rag import guards
from rag.llm import LLMError
from rag.pii import find_unmasked
from rag.retrieval import Filters

OFFLINE_NOTE = "（离线引擎：本草稿由模板与检索到的规定生成，未使用大语言模型，发送前请人工审核。）"
MAX_COMPLAINT = 4000
STAFF_NOTES = "工作的意义"  # heading of the staff-notes section of a regulation summary
_ENUM = re.compile(r"^\s*(?:[-•·*]\s*|\d{1,2}[.、)）]|[（(][一二三四五六七八九十\d]{1,3}[)）]|[一二三四五六七八九十]{1,3}、|第[一二三四五六七八九十百]+条)\s*")


class DraftError(ValueError):
    """A draft cannot be made from this input; the message says why and what to do."""


@dataclass
class DraftResult:
    text: str
    checks: list[dict[str, Any]]
    citations: list[dict[str, Any]]
    backend: str
    prompt: dict[str, Any]
    label: str
    label_source: str = "given"  # given | triage
    sources: list[Hit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    attempts: int = 1
    rejected: list[dict[str, Any]] = field(default_factory=list)  # LLM drafts that failed a rule

    @property
    def passed(self) -> bool:
        return all(c["passed"] for c in self.checks)

    @property
    def failed_rules(self) -> list[str]:
        return [c["rule"] for c in self.checks if not c["passed"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text, "label": self.label, "label_source": self.label_source,
            "backend": self.backend, "passed": self.passed, "checks": self.checks,
            "citations": self.citations, "prompt": self.prompt, "notes": self.notes,
            "attempts": self.attempts, "rejected": self.rejected,
            "sources": [{"n": n, "doc_id": h.doc_id, "chunk_id": h.chunk_id, "title": h.title}
                        for n, h in enumerate(self.sources, start=1)],
        }


def citation_check(text: str, n_sources: int) -> Check:
    """Every ``[S#]`` must name a retrieved source, and a draft with sources should cite one."""
    _, valid, invalid = check_citations(text, n_sources)
    if invalid:
        return Check("citations", False, f"引用了未检索到的来源：{'、'.join(f'S{n}' for n in invalid)}")
    if n_sources and not valid:
        return Check("citations", False, "草稿没有引用任何检索到的规定")
    if not n_sources:
        return Check("citations", True, "未检索到可引用的规定（无引用）")
    return Check("citations", True, f"引用的 {len(valid)} 条来源均为检索所得")


def amounts_in(complaint: str, limit: int = 4) -> list[str]:
    seen: list[str] = []
    for e in extract(complaint, ["amount"]):
        if e.value not in seen:
            seen.append(e.value)
    return seen[:limit]


def ground_citation(line: Line, hits: list[Hit]) -> int | None:
    """The number of the first retrieved passage that contains all of the line's ground terms."""
    if not line.ground:
        return None
    return next((n for n, h in enumerate(hits, start=1) if all(t in h.text for t in line.ground)), None)


def _cited(text: str, n: int | None) -> str:
    if n is None:
        return text
    body = text.rstrip("。")
    return f"{body}[S{n}]。" if body != text else f"{text}[S{n}]"


def basis_sentences(template: Template, complaint: str, hits: list[Hit], limit: int = 2,
                    top: int = 3) -> list[tuple[int, str]]:
    """From the ``top`` best-ranked passages, the sentences that best cover the label's focus and
    the complaint, one per document."""
    wanted = content_terms(template.focus) | content_terms(complaint)
    scored: list[tuple[float, int, str]] = []
    for n, hit in enumerate(hits[:top], start=1):
        if hit.kind and hit.kind != "regulation":
            continue
        for sent in split_sentences(hit.text):
            sent = _ENUM.sub("", sent.lstrip("#").strip())
            if not 20 <= len(sent) <= 110 or find_unmasked(sent) or "http" in sent:
                continue
            terms = content_terms(sent)
            if terms:
                scored.append((len(terms & wanted) / len(terms) ** 0.5 + 0.05 / n, n, sent))
    scored.sort(key=lambda s: -s[0])
    chosen: list[tuple[int, str]] = []
    for score, n, sent in scored:
        if len(chosen) >= limit or score < 0.5:
            break
        if all(n != c for c, _ in chosen):
            chosen.append((n, sent))
    return chosen


def render_offline(label: str, complaint: str, hits: list[Hit]) -> str:
    """The offline engine's reply: the label's template filled from the complaint and the sources.

    The lines that state a rule are cited to the passage that states it; when no line could be
    cited, the best-matching sentence of the top passages is quoted instead, unless quoting it
    would break a rule the reply otherwise keeps.
    """
    template = TEMPLATES[label]
    amounts = amounts_in(complaint)
    about = f"（涉及金额：{'、'.join(amounts)}）" if amounts else ""
    lines = [*template.body, *(line for t in topics_for(template, complaint) for line in t.lines)]
    paragraphs = [template.opening.format(about=about),
                  *(_cited(line.text, ground_citation(line, hits)) for line in lines)]
    closing = [*(line.text for line in template.closing), f"{INSTITUTION}客户服务中心"]
    draft = "\n".join([*paragraphs, *closing])
    if "[S" in draft:
        return draft
    for n, sent in basis_sentences(template, complaint, hits, limit=1):
        quoted = "\n".join([*paragraphs, "相关规定摘录：", f"《{hits[n - 1].title}》：{sent.rstrip('。；;')}[S{n}]。", *closing])
        if {c.rule for c in failed(check_draft(quoted, complaint, label))} <= {c.rule for c in failed(check_draft(draft, complaint, label))}:
            return quoted
    return draft


class Drafter:
    def __init__(self, service, k: int = 6, max_attempts: int = 2, prompt_ref: str = "draft") -> None:
        self.service = service
        self.k = k
        self.max_attempts = max_attempts
        self.prompt_ref = prompt_ref

    # -- pieces ------------------------------------------------------------------------------
    def resolve_label(self, complaint: str, label: str | None, triage: dict | None) -> tuple[str, str, list[str]]:
        """(label, where it came from, notes)."""
        notes: list[str] = []
        source = "given"
        if not label:
            triage = triage or self._triage(complaint)
            label, source = triage.get("label"), "triage"
            if triage.get("abstain") or not label:
                notes.append("研判结果为“待人工判断”，按正常投诉起草，请人工复核标签。")
                label = "legit_complaint"
        if label not in TEMPLATES:
            raise DraftError(f"未知标签 {label!r}（可选：{'、'.join(TEMPLATES)}）")
        return label, source, notes

    def _triage(self, complaint: str) -> dict[str, Any]:
        try:
            engine = self.service.triage
        except ImportError:
            raise DraftError("未指定标签，且投诉研判模块不可用：请指定标签（--label）后再起草。") from None
        try:
            result = engine.classify(complaint)
        except Exception as exc:  # e.g. no labelled cases in the store yet
            raise DraftError(f"自动研判失败（{exc}），请指定标签后再起草。") from exc
        return result.to_dict() if hasattr(result, "to_dict") else dict(result)

    def retrieve(self, complaint: str, label: str) -> list[Hit]:
        """Regulation passages for the label and the complaint, one per document.

        The corpus's regulation summaries end with a section of notes for staff (对…工作的意义);
        a reply to a customer cites what the rule says, so those passages give way to another
        passage of the same document, or to the next document.
        """
        query = f"{TEMPLATES[label].focus} {complaint[:300]}"
        hits = self.service.retriever.search(query, k=self.k * 3, filters=Filters(kind="regulation"), max_per_doc=2)
        sections = self._sections([h.chunk_id for h in hits])
        rules = [h for h in hits if STAFF_NOTES not in sections.get(h.chunk_id, "")]
        chosen: list[Hit] = []
        for hit in rules if len(rules) >= 2 else hits:
            if all(hit.doc_id != c.doc_id for c in chosen):
                chosen.append(hit)
        order = {h.chunk_id: i for i, h in enumerate(hits)}
        return sorted(chosen[: self.k], key=lambda h: order[h.chunk_id])

    def _sections(self, chunk_ids: list[str]) -> dict[str, str]:
        """chunk id -> its heading path, where the store keeps one."""
        kb = getattr(self.service, "kb", None)
        if kb is None or not chunk_ids:
            return {}
        return {cid: row.get("context") or "" for cid, row in kb.ledger.chunks(chunk_ids).items()}

    def check(self, text: str, complaint: str, label: str, n_sources: int | None = None,
              fault_confirmed: bool = False) -> list[dict[str, Any]]:
        """Every rule, plus the citation check when the number of sources is known."""
        checks = check_draft(text, complaint, label, fault_confirmed=fault_confirmed)
        if n_sources is not None:
            checks.append(citation_check(text, n_sources))
        return [c.to_dict() for c in checks]

    # -- the task ----------------------------------------------------------------------------
    def draft(self, complaint: str, label: str | None = None, triage: dict | None = None) -> DraftResult:
        complaint = (complaint or "").strip()
        if not complaint:
            raise DraftError("投诉内容为空：请粘贴投诉原文后再起草。")
        limit = getattr(self.service.settings, "max_complaint_chars", MAX_COMPLAINT)
        if len(complaint) > limit:
            raise DraftError(f"投诉内容过长（{len(complaint)} 字），请控制在 {limit} 字以内。")
        label, source, notes = self.resolve_label(complaint, label, triage)
        hits = self.retrieve(complaint, label)
        llm = self.service.llm
        if llm is None:
            result = self.offline(complaint, label, hits)
        else:
            result = self.with_llm(llm, complaint, label, hits)
        result.label_source = source
        result.notes = [*notes, *result.notes]
        if not result.passed:
            result.notes.append("⚠ 草稿未通过检查：" + "、".join(RULE_NAMES.get(r, r) for r in result.failed_rules)
                                + "。请修改后再发送。")
        return result

    def offline(self, complaint: str, label: str, hits: list[Hit]) -> DraftResult:
        text = render_offline(label, complaint, hits)
        text, valid, _ = check_citations(text, len(hits))
        return DraftResult(
            text=text, checks=self.check(text, complaint, label, len(hits)), citations=citations_for(valid, hits),
            backend="offline", prompt={"engine": "offline-template", "template": label}, label=label,
            sources=hits, notes=[OFFLINE_NOTE],
        )

    def with_llm(self, llm, complaint: str, label: str, hits: list[Hit]) -> DraftResult:
        # Personal data is masked on its way to a non-local endpoint by the service's backend
        # (rag.guards.protect), so the complaint goes into the prompt as it is.
        prompt = self.service.prompt(self.prompt_ref)
        sources = sources_for_prompt(hits)
        rejected: list[dict[str, Any]] = []
        feedback = ""
        for attempt in range(1, self.max_attempts + 1):
            canary = f"XS-CANARY-{secrets.token_hex(6)}"
            messages = prompt.render(complaint=guards.fence(complaint), label=label, label_name=LABEL_NAMES[label],
                                     sources=sources, feedback=feedback, canary=canary)
            try:
                reply = llm.complete(messages).text
            except LLMError as exc:
                result = self.offline(complaint, label, hits)
                result.notes.append(f"{exc} 已改用离线模板草稿。")
                result.attempts, result.rejected = attempt, rejected
                return result
            if guards.leaks_canary(reply, canary):  # any spelling (rag.guards)
                rejected.append({"text": "", "failed": ["canary"]})
                feedback = "- 输出中出现了内部标记，必须删除。"
                continue
            text = reply
            stripped, valid, invalid = check_citations(text, len(hits))
            stripped, links = guards.strip_links(stripped, hits, attributed=True)
            checks = self.check(text if invalid else stripped, complaint, label, len(hits))
            bad = [c for c in checks if not c["passed"]]
            if not bad:
                notes = [f"已移除 {links} 个资料中不存在的链接"] if links else []
                return DraftResult(stripped, checks, citations_for(valid, hits), llm.name, prompt.stamp(), label,
                                   sources=hits, notes=notes, attempts=attempt, rejected=rejected)
            rejected.append({"text": text, "failed": [c["rule"] for c in bad]})
            feedback = "\n".join(f"- {c['rule']}（{RULE_NAMES.get(c['rule'], '引用')}）：{c['detail']}" for c in bad)
        result = self.offline(complaint, label, hits)
        failures = "、".join(sorted({r for x in rejected for r in x["failed"]}))
        result.notes.append(f"大模型草稿 {len(rejected)} 次均未通过检查（{failures}），已改用离线模板草稿。")
        result.attempts, result.rejected = self.max_attempts, rejected
        return result
