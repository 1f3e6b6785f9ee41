"""The LLM's vote in triage: one prompt from ``prompts/triage``, strict JSON, checked against the label set.

A reply counts only when it is a JSON object whose ``label`` is one of the labels given (or
``unknown`` for "like none of them"); anything else is discarded with the reason, so an invalid
label never gets through. Red flags the model names are kept only when they occur verbatim in the
complaint. Personal data is masked before it leaves for a non-local endpoint.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rag import guards
from rag.llm import LLMError
from rag.triage_lexicon import DESCRIPTIONS, LABEL_INFO

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.I)
MAX_EVIDENCE_CHARS = 300


def parse_vote(reply: str, labels: list[str]) -> dict[str, Any]:
    """The validated vote, or ``{"label": None, "error": why}``."""
    text = _FENCE.sub("", reply.strip())
    start, end = text.find("{"), text.rfind("}")
    try:
        data = json.loads(text[start : end + 1]) if start >= 0 < end else None
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return {"label": None, "error": "大模型未返回合法 JSON，已忽略其投票"}
    label = str(data.get("label", "")).strip()
    if label not in labels and label != "unknown":
        return {"label": None, "error": f"大模型给出的标签 {label!r} 不在标签集合中，已忽略其投票"}
    try:
        confidence = min(1.0, max(0.0, float(data.get("confidence", 0.6))))
    except (TypeError, ValueError):
        return {"label": None, "error": "大模型给出的 confidence 不是数字，已忽略其投票"}
    flags = data.get("red_flags") or []
    return {"label": label, "confidence": confidence, "reason": str(data.get("reason", ""))[:300],
            "red_flags": [str(f) for f in flags if isinstance(f, str)] if isinstance(flags, list) else []}


def ask_llm(service, prompt_ref: str, text: str, labels: list[str], evidence) -> dict[str, Any]:
    settings = service.settings
    prompt = service.prompt(prompt_ref)
    masker = None
    if not settings.llm_is_local and not settings.llm_send_pii:
        from rag.pii import Masker

        masker = Masker()
    hide = (lambda s: guards.fence(masker.mask(s))) if masker else guards.fence  # data, never markup
    variables = {
        "labels": [{"code": code, "name": LABEL_INFO.get(code, (code, ""))[0], "description": DESCRIPTIONS.get(code, "")}
                   for code in labels],
        "cases": [{"doc_id": e.doc_id, "label": e.label, "text": hide(e.text[:MAX_EVIDENCE_CHARS])}
                  for e in evidence if e.kind == "case"][:4],
        "scripts": [{"doc_id": e.doc_id, "label": e.label, "text": hide(e.text[:MAX_EVIDENCE_CHARS])}
                    for e in evidence if e.kind == "script"][:2],
        "complaint": hide(text),
    }
    stamp = prompt.stamp()
    try:
        canary = guards.new_canary()  # carried by prompts that declare {{ canary }}; ignored by the others
        reply = service.llm.complete(prompt.render(**variables, canary=canary))
    except LLMError as exc:
        return {"label": None, "error": str(exc), "prompt": stamp}
    if guards.leaks_canary(reply.text, canary):
        return {"label": None, "error": "大模型输出包含内部标记（疑似提示词注入），已忽略其投票", "prompt": stamp}
    vote = parse_vote(reply.text, labels)
    if vote.get("label") is not None:  # the reason is shown to staff: no links or images from nowhere
        vote["reason"] = guards.check_output(vote["reason"], sources=evidence, cite=False).text
    vote["prompt"] = stamp
    if vote.get("label") is None:
        return vote
    flags = [masker.unmask(f) if masker else f for f in vote["red_flags"]]
    vote["red_flags"] = [f for f in flags if f and f in text]
    vote["backend"] = service.llm.name
    return vote
