"""What every tab receives: the service and the page-wide components; and the permission check
that every handler runs (``guarded``), whatever tabs the page shows.

Who is asking comes from Gradio's login (``request.username``), looked up in the users file on
every call, so a removed or demoted user loses access at once. Without a users file and without a
login (tests, a single-user checkout) the caller is the local administrator; ``app.launch`` always
creates a users file and turns the login on, so the workbench itself never runs that way.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

from rag.auth import AccessDenied, Principal, acting_as, current_principal
from rag.guards import InputTooLong
from rag.ratelimit import RateLimited
from rag.service import Service
from rag.session import UserSession, recording

LOCAL_USER = Principal("本机", "admin")
_DOC_ID = re.compile(r"\b(?:case|reg|scr|cmp|doc)-[\w\-]{2,40}\b")


@dataclass
class UIContext:
    service: Service
    # Page-wide components a tab may read or update (e.g. the header badges), by name.
    shared: dict[str, Any] = field(default_factory=dict)


def principal_of(service: Service, request: Any) -> Principal:
    """The logged-in user behind a Gradio request (see the module docstring)."""
    username = getattr(request, "username", None) if request is not None else None
    if username:
        principal = service.users.principal(username)
        if principal is None:
            raise AccessDenied(f"用户 {username} 不存在或已停用，请重新登录。")
        return principal
    if request is not None and service.users.exists():
        raise AccessDenied("请先登录。")
    return LOCAL_USER


def session_for(service: Service, request: Any, permission: str, limit: bool = True) -> UserSession:
    """The caller's session after the permission and (``limit``) request-limit checks (``gr.Error`` if refused)."""
    try:
        session = service.for_user(principal_of(service, request))
        session.admit(permission, limit=limit)
    except (AccessDenied, RateLimited) as exc:
        raise gr.Error(str(exc), title="无法执行") from None
    return session


def _find_request(args: tuple, kwargs: dict) -> Any:
    if "request" in kwargs:
        return kwargs["request"]
    return next((a for a in args if isinstance(a, gr.Request)), None)


def _inputs(args: tuple, kwargs: dict) -> list[Any]:
    return [a for a in (*args, *kwargs.values()) if not isinstance(a, gr.Request) and isinstance(a, (str, int, float))]


def _plain(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _doc_ids(value: Any) -> list[str]:
    return list(dict.fromkeys(_DOC_ID.findall(_plain(value))))


def guarded(permission: str, *, audit: bool = True) -> Callable:
    """Decorate a tab handler method (of a class with ``self.service``) that takes ``request: gr.Request``.

    Before the handler: the caller's permission and request limit (``gr.Error`` with the Chinese
    reason when refused). While it runs: the caller is the acting principal, so every retrieval
    is narrowed to the role's access levels. After: every string in its outputs is masked for the
    role, and (``audit``) one audit line records the input and output hashes and the document ids shown.
    """

    def decorate(fn: Callable) -> Callable:
        if "request" not in inspect.signature(fn).parameters:
            raise TypeError(f"{fn.__qualname__} 需要参数 request: gr.Request，才能检查调用者的权限")

        def begin(self, args, kwargs) -> UserSession:  # views (audit=False) do not count against the limit
            return session_for(self.service, _find_request(args, kwargs), permission, limit=audit)

        def end(session: UserSession, args, kwargs, output: Any, retrieved: list[str], outcome: str = "ok",
                detail: str = "") -> None:
            if audit:
                session.record(permission, input=_plain(_inputs(args, kwargs)), output=_plain(output),
                               doc_ids=[*retrieved, *_doc_ids(output)], backend=_backend(session), outcome=outcome,
                               detail=detail)

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def stream(self, *args, **kwargs):
                session = begin(self, args, kwargs)
                steps, last, retrieved = fn(self, *args, **kwargs), None, []
                try:
                    while True:
                        with acting_as(session.principal), recording(retrieved):  # per step: threads may differ
                            try:
                                last = next(steps)
                            except StopIteration:
                                break
                        yield shown(session, last)
                except InputTooLong as exc:
                    end(session, args, kwargs, None, retrieved, "refused", str(exc))
                    raise gr.Error(str(exc), title="无法执行") from None
                except Exception as exc:
                    end(session, args, kwargs, None, retrieved, "error", f"{type(exc).__name__}: {exc}")
                    raise
                end(session, args, kwargs, last, retrieved)

            stream.xs_permission = permission  # type: ignore[attr-defined]
            return stream

        @functools.wraps(fn)
        def call(self, *args, **kwargs):
            session, retrieved = begin(self, args, kwargs), []
            try:
                with acting_as(session.principal), recording(retrieved):
                    result = fn(self, *args, **kwargs)
            except InputTooLong as exc:
                end(session, args, kwargs, None, retrieved, "refused", str(exc))
                raise gr.Error(str(exc), title="无法执行") from None
            except Exception as exc:
                end(session, args, kwargs, None, retrieved, "error", f"{type(exc).__name__}: {exc}")
                raise
            end(session, args, kwargs, result, retrieved)
            return shown(session, result)

        call.xs_permission = permission  # type: ignore[attr-defined]
        return call

    return decorate


_TEXT_FILES = (".csv", ".jsonl", ".json", ".md", ".txt", ".html", ".tsv")


def shown(session: UserSession, output: Any) -> Any:
    """Handler output as the caller's role may see it: every string masked, and a text file the
    handler made for download (CSV, JSONL, Markdown …, in the temp folder) masked in place."""
    if session.principal.can("pii.raw"):
        return output
    for path in _download_paths(output):
        path.write_text(session.show(path.read_text(encoding="utf-8-sig", errors="replace")), encoding="utf-8")
    return session.show(output)


def _download_paths(output: Any) -> list[Path]:
    values = output if isinstance(output, (tuple, list)) else [output]
    tmp = Path(tempfile.gettempdir()).resolve()
    found = []
    for v in values:
        if isinstance(v, str) and v.lower().endswith(_TEXT_FILES) and len(v) < 1000:
            p = Path(v)
            try:
                if p.is_file() and tmp in p.resolve().parents:
                    found.append(p)
            except OSError:
                continue
    return found


def visible_doc_ids(service: Service, doc_ids: list[str]) -> list[str]:
    """The document ids the acting user may see (all of them outside a user's request)."""
    principal = current_principal()
    if principal is None:
        return list(doc_ids)
    docs = {d: service.kb.ledger.document(d) for d in dict.fromkeys(doc_ids)}
    return [d for d in doc_ids if docs[d] is not None and (docs[d].get("access") or "public") in principal.access]


def _backend(session: UserSession) -> str:
    settings = session.service.settings
    return f"openai:{settings.llm_model}" if settings.llm_configured else "offline"

