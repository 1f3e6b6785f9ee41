"""ui.context.guarded: the permission check, limits, role masking and audit every tab handler runs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pytest

from rag.auth import UserStore
from rag.documents import Document
from rag.service import Service
from ui.context import LOCAL_USER, guarded, principal_of, visible_doc_ids

ID_CARD, CARD, PHONE = "110101199003074514", "6222020200112233446", "13912345678"


class Req:
    """What the handlers read from gr.Request: the logged-in user's name."""

    def __init__(self, username):
        self.username = username


class Handlers:
    def __init__(self, service):
        self.service = service

    @guarded("leads.run")
    def leads(self, text: str, request: gr.Request | None = None):
        return f"线索：{text}"

    @guarded("triage.run")
    def triage(self, text: str, request: gr.Request | None = None):
        hits = self.service.retriever.search(text, k=10)
        return {"ids": [h.doc_id for h in hits], "text": f"{text} 身份证 {ID_CARD}"}, f"卡号 {CARD}"

    @guarded("qa.ask")
    def stream(self, text: str, request: gr.Request | None = None):
        for _ in range(3):
            yield [h.doc_id for h in self.service.retriever.search(text, k=10)]

    @guarded("triage.run")
    def export(self, request: gr.Request | None = None):
        path = Path(tempfile.mkdtemp(prefix="xs-test-")) / "out.csv"
        path.write_text(f"编号,手机\n1,{PHONE}\n", encoding="utf-8")
        return str(path)

    @guarded("kb.view", audit=False)
    def view(self, request: gr.Request | None = None):
        return "ok"


@pytest.fixture
def service(settings, hash_embedder):
    svc = Service(settings, embedder=hash_embedder, llm=None)
    svc.kb.add_documents([
        Document("case-1", "征信修复团伙内部记录，收款账户。", "case", "内部", {"access": "investigator"}),
        Document("case-2", "征信修复广告投诉，收款账户。", "case", "公开", {"access": "public"}),
    ])
    users = UserStore(settings.users_path)
    users.add("li", "frontline", "frontline-pass", rounds=4)
    users.add("wang", "investigator", "investigator-pass", rounds=4)
    return svc


def test_a_handler_without_a_request_parameter_is_refused_at_import():
    with pytest.raises(TypeError, match="request"):
        guarded("qa.ask")(lambda self, text: text)


def test_who_is_asking(service, tmp_path):
    assert principal_of(service, Req("li")).role == "frontline"
    with pytest.raises(PermissionError, match="不存在或已停用"):
        principal_of(service, Req("ghost"))
    with pytest.raises(PermissionError, match="请先登录"):
        principal_of(service, Req(None))  # the users file exists: no anonymous access
    assert principal_of(service, None) == LOCAL_USER  # in-process call (tests, scripts)
    bare = Service(service.settings.model_copy(update={"users_file": tmp_path / "none.toml"}), llm=None)
    assert principal_of(bare, Req(None)) == LOCAL_USER  # single-user checkout: no users file, no login


def test_permission_is_checked_in_the_handler(service):
    h = Handlers(service)
    with pytest.raises(gr.Error, match="无权限：一线员工（li）不能线索汇总"):
        h.leads("x", request=Req("li"))
    assert h.leads("x", request=Req("wang")) == "线索：x"
    outcomes = [(e["user"], e["action"], e["outcome"]) for e in service.audit.entries()]
    assert outcomes == [("li", "leads.run", "refused"), ("wang", "leads.run", "ok")]


def test_outputs_are_masked_for_the_role_and_retrieval_narrowed(service):
    h = Handlers(service)
    front, text = h.triage("征信修复 收款账户", request=Req("li"))
    assert front["ids"] == ["case-2"] and ID_CARD not in front["text"] and CARD not in text
    inv, text = h.triage("征信修复 收款账户", request=Req("wang"))
    assert set(inv["ids"]) == {"case-1", "case-2"} and ID_CARD in inv["text"] and CARD in text
    entry = list(service.audit.entries())[-1]
    assert sorted(entry["doc_ids"]) == ["case-1", "case-2"] and entry["user"] == "wang"


def test_every_step_of_a_streaming_handler_runs_as_the_user(service):
    steps = list(Handlers(service).stream("征信修复 收款账户", request=Req("li")))
    assert steps == [["case-2"]] * 3


def test_download_files_are_masked_for_frontline(service):
    h = Handlers(service)
    path = h.export(request=Req("li"))
    assert PHONE not in Path(path).read_text(encoding="utf-8") and "139****5678" in Path(path).read_text(encoding="utf-8")
    assert PHONE in Path(h.export(request=Req("wang"))).read_text(encoding="utf-8")


def test_the_request_limit_counts_actions_not_views(service):
    service.settings.requests_per_minute = 2
    h = Handlers(service)
    for _ in range(5):
        assert h.view(request=Req("li")) == "ok"
    h.triage("征信", request=Req("li"))
    h.triage("征信", request=Req("li"))
    with pytest.raises(gr.Error, match="请求过于频繁"):
        h.triage("征信", request=Req("li"))


def test_visible_doc_ids(service):
    from rag.auth import Principal, acting_as

    assert visible_doc_ids(service, ["case-1", "case-2"]) == ["case-1", "case-2"]
    with acting_as(Principal("li", "frontline")):
        assert visible_doc_ids(service, ["case-1", "case-2", "nope"]) == ["case-2"]


def test_every_handler_the_page_wires_checks_a_permission(service):
    """Walk the built page: each event bound to a tab handler method must be a guarded one."""
    import inspect

    import app

    demo = app.build_app(service)
    unguarded = []
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        owner = getattr(fn, "__self__", None)
        if inspect.ismethod(fn) and type(owner).__name__.endswith("Handlers") and not hasattr(fn, "xs_permission"):
            unguarded.append(f"{type(owner).__name__}.{fn.__name__}")
        if getattr(fn, "__name__", "") == "<lambda>":
            names = fn.__code__.co_names
            assert not any(n in names for n in ("service", "kb", "search", "classify", "draft")), fn
    assert unguarded == []
