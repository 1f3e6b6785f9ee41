"""The service object: the one entry point that the workbench and the CLIs call.

It owns the settings and builds every component lazily on first use (nothing heavy happens at
import or construction time), so a CLI that only counts tokens never loads the embedding model.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import cached_property

from rag.answer import Answer, Answerer
from rag.documents import Hit
from rag.index import KnowledgeBase
from rag.llm import ChatBackend, make_chat_backend
from rag.prompts import Prompt, load_prompt
from rag.retrieval import Filters, Mode, Retriever
from rag.settings import Settings

log = logging.getLogger(__name__)


class Service:
    def __init__(self, settings: Settings, embedder=None, llm: ChatBackend | None | bool = True) -> None:
        """``embedder`` and ``llm`` may be injected (tests); ``llm=True`` means "from settings"."""
        self.settings = settings
        self._embedder = embedder
        self._llm = llm

    @cached_property
    def embedder(self):
        if self._embedder is None:
            from rag.backends import Embedder

            self._embedder = Embedder(self.settings)
        return self._embedder

    @cached_property
    def llm(self) -> ChatBackend | None:
        """The chat backend; for a non-local endpoint it masks personal data (rag.guards.protect)."""
        from rag.guards import protect

        llm = make_chat_backend(self.settings) if self._llm is True else (self._llm or None)
        return protect(llm, self.settings)

    # Security: users and roles, the audit trail, per-user request limits (rag.auth, rag.audit).
    @cached_property
    def users(self):
        from rag.auth import UserStore

        return UserStore(self.settings.users_path)

    @cached_property
    def audit(self):
        from rag.audit import AuditLog

        return AuditLog(self.settings.audit_path)

    @cached_property
    def limiter(self):
        from rag.ratelimit import RateLimiter

        return RateLimiter(self.settings.requests_per_minute)

    def for_user(self, principal):
        """This service as ``principal`` may use it: permissions checked, retrieval filtered to the
        role's access levels server-side, outputs masked by role, every action audited."""
        from rag.session import UserSession

        return UserSession(self, principal)

    @cached_property
    def kb(self) -> KnowledgeBase:
        return KnowledgeBase(self.settings, self.embedder)

    @cached_property
    def retriever(self) -> Retriever:
        from rag.session import ScopedRetriever  # narrows every search to the acting user's access

        return ScopedRetriever(self.kb, rrf_k=self.settings.rrf_k, candidates=self.settings.candidates)

    # Task engines, each in its own module, built on first use with this service.
    @cached_property
    def triage(self):
        from rag.triage import TriageEngine

        return TriageEngine(self)

    @cached_property
    def drafts(self):
        from rag.draft import Drafter

        return Drafter(self)

    @cached_property
    def leads(self):
        from rag.leads import LeadFinder

        return LeadFinder(self)

    def prompt(self, ref: str) -> Prompt:
        return load_prompt(ref, self.settings.prompts_dir)

    def answerer(self, prompt_ref: str = "answer") -> Answerer:
        return Answerer(self.retriever, self.prompt(prompt_ref), self.llm, k=self.settings.top_k)

    @property
    def backend_label(self) -> str:
        """What the badge in the workbench says."""
        if self.settings.llm_configured:
            return f"大模型：{self.settings.llm_model}"
        return "离线引擎（未使用大模型）"

    # -- tasks --------------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, mode: Mode = "hybrid", filters: Filters | None = None) -> list[Hit]:
        return self.retriever.search(query, k=k, mode=mode, filters=filters)

    def ask(self, question: str, filters: Filters | None = None, prompt_ref: str = "answer") -> Answer:
        return self.answerer(prompt_ref).ask(question, filters)

    def answer_chain(self, prompt_ref: str = "answer"):
        """The answer pipeline as a LangChain Runnable: ``chain.invoke("问题")`` returns
        ``{"answer", "citations", "backend"}``; compose it with users' own chains."""
        from langchain_core.runnables import RunnableLambda

        answerer = self.answerer(prompt_ref)
        return RunnableLambda(lambda question: answerer.ask(str(question)).to_dict(), name="xiansuo_answer")

    def ask_stream(self, question: str, filters: Filters | None = None) -> Iterator[tuple[str, Answer | None]]:
        return self.answerer().stream(question, filters)
