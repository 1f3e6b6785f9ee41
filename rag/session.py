"""One user's view of the service: ``Service.for_user(principal)``.

Every method checks the principal's permission and the per-user request limit first, retrieves
only documents whose ``access`` level the role may see (the filter is applied inside the store
queries, not to the page), masks outputs by role (frontline staff never see a full ID, card or
mobile number) and appends one line to the audit trail, whatever the outcome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from rag.answer import Answer
from rag.auth import Principal, acting_as, current_principal, require, restrict_access
from rag.documents import Hit
from rag.guards import check_length
from rag.pii import ROLE_MASKS, mask_for_role
from rag.retrieval import Filters, Mode, Retriever

MAX_QUESTION = 2000


def mask_value(value: Any, role: str) -> Any:
    """Every string inside ``value`` (dicts, lists, tuples, dataclasses) as ``role`` may see it."""
    if ROLE_MASKS.get(role) is None:
        return value
    if isinstance(value, str):
        return mask_for_role(value, role)
    if isinstance(value, dict):
        return {k: mask_value(v, role) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(v, role) for v in value)
    if type(value).__name__ == "DataFrame" and hasattr(value, "map"):  # pandas, without importing it here
        return value.map(lambda v: mask_value(v, role))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: mask_value(getattr(value, f.name), role)
                                             for f in dataclasses.fields(value) if f.init})
    return value


# Document ids retrieved while a handler runs, for its audit line (see ui.context.guarded).
_retrieved: ContextVar[list[str] | None] = ContextVar("xs_retrieved", default=None)


@contextmanager
def recording(into: list[str]) -> Iterator[list[str]]:
    token = _retrieved.set(into)
    try:
        yield into
    finally:
        _retrieved.reset(token)


class ScopedRetriever(Retriever):
    """The service's retriever: while work runs for a principal (:func:`rag.auth.acting_as`), every
    search is narrowed to that principal's access levels, whatever filters the caller passed."""

    def search(self, query: str, k: int = 10, mode: Mode = "hybrid", filters: Filters | None = None,
               max_per_doc: int | None = None) -> list[Hit]:
        principal = current_principal()
        if principal is not None:
            filters = filters or Filters()
            filters = dataclasses.replace(filters, access=restrict_access(filters.access, principal))
        if filters is not None and filters.access is not None and not filters.access:
            return []  # no level left that this user may read
        hits = super().search(query, k=k, mode=mode, filters=filters, max_per_doc=max_per_doc)
        sink = _retrieved.get()
        if sink is not None:
            sink.extend(h.doc_id for h in hits)
        return hits


class UserSession:
    def __init__(self, service, principal: Principal) -> None:
        self.service = service
        self.principal = principal

    # -- checks ---------------------------------------------------------------------------------
    def require(self, permission: str) -> None:
        require(self.principal, permission)

    def admit(self, permission: str, limit: bool = True) -> None:
        """Permission, then (``limit``) the request limit; a refusal is audited too."""
        try:
            self.require(permission)
            if limit:
                self.service.limiter.check(self.principal.name)
        except (PermissionError, RuntimeError) as exc:
            self.record(permission, outcome="refused", detail=str(exc))
            raise

    def filters(self, base: Filters | None = None) -> Filters:
        """The caller's filters, narrowed to the access levels of this principal's role."""
        base = base or Filters()
        return dataclasses.replace(base, access=restrict_access(base.access, self.principal))

    def may_see(self, doc_id: str) -> bool:
        doc = self.service.kb.ledger.document(doc_id)
        return doc is not None and (doc.get("access") or "public") in self.principal.access

    def show(self, value: Any) -> Any:
        """Mask ``value`` for this principal's role."""
        return mask_value(value, self.principal.role)

    # -- audit ----------------------------------------------------------------------------------
    def record(self, action: str, *, input: Any = None, output: Any = None, doc_ids: Iterable[str] = (),
               prompt: dict[str, Any] | None = None, backend: str = "", model: str = "", outcome: str = "ok",
               detail: str = "") -> dict[str, Any]:
        settings = self.service.settings
        if not model and backend and backend != "offline":
            model = settings.llm_model
        return self.service.audit.record(
            user=self.principal.name, role=self.principal.role, action=action, input=input, output=output,
            doc_ids=doc_ids, prompt=prompt, backend=backend, model=model, outcome=outcome, detail=detail)

    # -- tasks ----------------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, mode: Mode = "hybrid", filters: Filters | None = None) -> list[Hit]:
        self.admit("kb.search")
        check_length(query, self.service.settings.max_complaint_chars, "查询")
        with acting_as(self.principal):
            hits = self.service.search(query, k=k, mode=mode, filters=self.filters(filters))
        self.record("kb.search", input=query, output=[h.chunk_id for h in hits], doc_ids=[h.doc_id for h in hits],
                    backend="offline")
        return self.show(hits)

    def ask_stream(self, question: str, filters: Filters | None = None,
                   prompt_ref: str = "answer") -> Iterator[tuple[str, Answer | None]]:
        """As :meth:`Service.ask_stream`, for this principal (see the module docstring). The checks
        run at the call, before the first step; the steps retrieve and answer."""
        self.admit("qa.ask")
        check_length(question, MAX_QUESTION, "问题")
        return self._ask_steps(question, filters, prompt_ref)

    def _ask_steps(self, question: str, filters: Filters | None, prompt_ref: str) -> Iterator[tuple[str, Answer | None]]:
        answerer = self.service.answerer(prompt_ref)
        answer: Answer | None = None
        try:
            steps = answerer.stream(question, self.filters(filters))
            while True:
                with acting_as(self.principal):  # per step: a generator may resume in another thread
                    step = next(steps, None)
                if step is None:
                    break
                text, answer = step
                if answer is None:
                    yield self.show(text), None
            assert answer is not None
        except Exception as exc:
            self.record("qa.ask", input=question, backend=answerer.backend, prompt=answerer.prompt.stamp(),
                        outcome="error", detail=f"{type(exc).__name__}: {exc}")
            raise
        outcome = "fallback" if answer.backend == "offline" and answerer.llm is not None else "ok"
        self.record("qa.ask", input=question, output=answer.answer, doc_ids=[h.doc_id for h in answer.sources],
                    prompt=answer.prompt or (answerer.prompt.stamp() if answerer.llm else None),  # sent, or none
                    backend=answer.backend, outcome=outcome,
                    detail="；".join(answer.notes))
        shown = self.show(answer)
        yield shown.answer, shown

    def ask(self, question: str, filters: Filters | None = None, prompt_ref: str = "answer") -> Answer:
        result = None
        for _text, result in self.ask_stream(question, filters, prompt_ref):
            pass
        assert result is not None
        return result
