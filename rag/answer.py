"""Cited answers: retrieve, number the sources ``[S1]…[Sn]``, answer, check every citation.

With an LLM the model only refers to the numbers; our code checks that each cited number was
really retrieved, strips any that was not, and falls back to the offline engine when nothing
valid is left. The offline engine answers extractively: the sentences of the top passages that
best cover the question, each tagged with its source, and it says that no LLM was used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rag import guards
from rag.chunking import split_sentences
from rag.documents import Hit
from rag.keyword import tokenize
from rag.llm import ChatBackend, LLMError
from rag.prompts import Prompt

OFFLINE_NOTE = "（离线引擎：本回答摘录自检索到的资料，未使用大语言模型。）"
NOT_FOUND = "知识库中没有找到足以回答该问题的依据。"
_STOP = set("的了吗呢吧啊是在有和与或及对为把被就都也还要会能可以该这那些个么什么怎么如何哪些是否一")
_ENUM = re.compile(r"^\s*(?:\d{1,2}[.、)）]|[（(][一二三四五六七八九十\d]{1,3}[)）]|[一二三四五六七八九十]{1,3}、)\s*")


@dataclass
class Answer:
    answer: str
    citations: list[dict[str, Any]]
    backend: str
    sources: list[Hit] = field(default_factory=list)
    prompt: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"answer": self.answer, "citations": self.citations, "backend": self.backend}


def content_terms(text: str) -> set[str]:
    """Character bigrams and words that carry meaning (stop characters dropped)."""
    return {t for t in tokenize(text) if len(t) > 1 and not (set(t) <= _STOP)}


def check_citations(text: str, n_sources: int) -> tuple[str, list[int], list[int]]:
    """Strip citations of sources that were not retrieved; returns (text, valid, invalid)."""
    return guards.check_citations(text, n_sources)


def strip_foreign_links(text: str, sources: list[Hit]) -> tuple[str, int]:
    """Remove links that none of the sources contains, and every markdown or HTML image
    (see :func:`rag.guards.strip_links`)."""
    return guards.strip_links(text, sources)


def citations_for(valid: list[int], hits: list[Hit]) -> list[dict[str, Any]]:
    return [{"n": n, "doc_id": hits[n - 1].doc_id, "chunk_id": hits[n - 1].chunk_id} for n in sorted(valid)]


def extractive_answer(question: str, hits: list[Hit], max_sentences: int = 4, min_coverage: float = 0.18) -> Answer:
    """The offline engine: pick the sentences that best cover the question, tag each ``[S#]``."""
    q_terms = content_terms(question)
    candidates: list[tuple[float, int, int, str]] = []
    for n, hit in enumerate(hits, start=1):
        for pos, sent in enumerate(split_sentences(hit.text)):
            sent = _ENUM.sub("", sent)
            if len(sent) < 6 or guards.find_injection(sent):  # an instruction to the assistant is no fact
                continue
            terms = content_terms(sent)
            coverage = len(q_terms & terms) / len(q_terms) if q_terms else 0.0
            score = coverage + 0.15 / n
            candidates.append((score, n, pos, sent))
    candidates.sort(key=lambda c: -c[0])
    best = candidates[0][0] - 0.15 / candidates[0][1] if candidates else 0.0
    if best < min_coverage:
        return Answer(f"{NOT_FOUND}\n{OFFLINE_NOTE}", [], "offline", hits, notes=["coverage below threshold"])
    chosen: list[tuple[float, int, int, str]] = []
    per_source: dict[int, int] = {}
    for cand in candidates:
        score, n, _pos, sent = cand
        if len(chosen) >= max_sentences or score < best * 0.5:
            break
        if per_source.get(n, 0) >= 2 or any(_similar(sent, c[3]) for c in chosen):
            continue
        per_source[n] = per_source.get(n, 0) + 1
        chosen.append(cand)
    chosen.sort(key=lambda c: (c[1], c[2]))
    lines = [f"{i}. {sent.rstrip('。')}。[S{n}]" for i, (_s, n, _p, sent) in enumerate(chosen, start=1)]
    text, _removed = guards.strip_links("根据知识库资料：\n" + "\n".join(lines) + f"\n{OFFLINE_NOTE}", hits)
    valid = sorted({n for _s, n, _p, _t in chosen})
    return Answer(text, citations_for(valid, hits), "offline", hits)


def _similar(a: str, b: str) -> bool:
    ta, tb = content_terms(a), content_terms(b)
    return bool(ta and tb) and len(ta & tb) / min(len(ta), len(tb)) > 0.7


def sources_for_prompt(hits: list[Hit]) -> list[dict[str, Any]]:
    """Numbered sources for a prompt; their text is untrusted data, fenced (rag.guards.fence)."""
    return [{"n": n, "doc_id": h.doc_id, "title": guards.fence(h.title), "text": guards.fence(h.text)}
            for n, h in enumerate(hits, start=1)]


class Answerer:
    """The answer pipeline over a retriever and an optional chat backend."""

    def __init__(self, retriever, prompt: Prompt, llm: ChatBackend | None = None, k: int = 6) -> None:
        self.retriever = retriever
        self.prompt = prompt
        self.llm = llm
        self.k = k

    @property
    def backend(self) -> str:
        return self.llm.name if self.llm else "offline"

    def retrieve(self, question: str, filters=None) -> list[Hit]:
        return self.retriever.search(question, k=self.k, filters=filters, max_per_doc=2)

    def ask(self, question: str, filters=None) -> Answer:
        result = None
        for result in self.stream(question, filters):
            pass
        assert result is not None
        return result[1]

    def stream(self, question: str, filters=None) -> Iterator[tuple[str, Answer | None]]:
        """Yield (text so far, None) while generating, then (final text, Answer) once checked."""
        hits = self.retrieve(question, filters)
        if self.llm is None or not hits:
            answer = extractive_answer(question, hits)
            yield answer.answer, answer
            return
        canary = guards.new_canary()
        messages = self.prompt.render(question=guards.fence(question), sources=sources_for_prompt(hits), canary=canary)
        text = ""
        try:
            for piece in self.llm.stream(messages):
                text += piece
                yield preview(text, hits, canary), None
        except LLMError as exc:
            answer = extractive_answer(question, hits)
            answer.notes.append(str(exc))
            answer.answer = f"⚠ {exc} 以下为离线引擎的结果。\n{answer.answer}"
            yield answer.answer, answer
            return
        yield self.finish(question, text, hits, canary)

    def finish(self, question: str, text: str, hits: list[Hit], canary: str) -> tuple[str, Answer]:
        warning = guards.injection_note(question, *(h.text for h in hits))
        checked = guards.check_output(text, sources=hits, canary=canary)
        notes = [n for n in (warning,) if n]
        if not checked.ok:
            fallback = extractive_answer(question, hits)
            fallback.notes[:0] = [*notes, "模型输出包含内部标记，已拒绝并改用离线结果"]
            return fallback.answer, fallback
        notes += checked.notes
        if not checked.valid and NOT_FOUND[:8] not in checked.text:
            answer = extractive_answer(question, hits)
            answer.notes = [*notes, "模型回答没有有效引用，已改用离线引擎结果"]
            return answer.answer, answer
        answer = Answer(checked.text, citations_for(checked.valid, hits), self.backend, hits, self.prompt.stamp(), notes)
        return checked.text, answer


def preview(text: str, hits: list[Hit], canary: str) -> str:
    """What may be shown of a reply still streaming: never the canary, never a foreign link."""
    if guards.leaks_canary(text, canary):
        return "生成中…"
    return guards.strip_links(guards.hold_open_tail(text), hits, attributed=True)[0]
