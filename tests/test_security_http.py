"""The workbench over real HTTP with the login on: roles enforced server-side, outputs masked by
role, and no unmasked personal data in any file the app writes (logs, audit, exports …)."""

from __future__ import annotations

import os
import socket

import httpx
import pytest

from rag.auth import UserStore
from rag.documents import Document
from rag.pii import find_unmasked
from rag.service import Service
from rag.settings import Settings
from tests.conftest import ROOT
from tests.fakes import HashEmbedder

pytestmark = pytest.mark.slow

PASSWORDS = {"li": "frontline-pass", "wang": "investigator-pass", "root": "admin-pass-1"}
ROLES = {"li": "frontline", "wang": "investigator", "root": "admin"}
SECRET_FACT = "青龙团伙的收款账户由上线“黑鲨”统一控制，每周一更换一次"
ID_CARD, CARD, PHONE = "110101199003074514", "6222020200112233446", "13912345678"
DOCS = [
    Document("reg-003", "任何机构不得以收费为条件承诺删除真实的逾期记录。信息主体可以免费提出异议。", "regulation",
             "征信业管理条例"),
    Document("case-0200", f"内部侦查记录：{SECRET_FACT}。青龙团伙的收款账户曾多次出现在代理投诉中。", "case",
             "青龙团伙侦查记录", {"access": "investigator", "label": "proxy_rights"}),
    Document("case-0201", f"客户投诉被冒充客服诈骗，对方索要身份证号 {ID_CARD} 和银行卡号 {CARD}，要求转账到安全账户。",
             "case", "冒充客服诈骗投诉", {"access": "public", "label": "impersonation"}),
]
# A few more labelled cases, so the triage tab has something to learn from (three per label at least).
DOCS += [Document(f"case-03{i:02d}", text, "case", title, {"access": "public", "label": label})
         for i, (label, title, text) in enumerate([
             ("impersonation", "冒充客服注销校园贷", "自称平台客服来电，称校园贷账户需注销否则影响征信，要求下载会议软件屏幕共享后转账。"),
             ("impersonation", "冒充客服安全账户", "对方冒充银行客服，称账户异常需把资金转入安全账户核验，客户转账三万元。"),
             ("impersonation", "短信链接冒充", "收到冒用平台名义的短信链接，点击后要求填写银行卡号和验证码，随后被扣款。"),
             ("proxy_rights", "法务公司代理投诉", "某法务公司称已获借款人全权委托，要求停止催收并全额减免利息，否则集体投诉。"),
             ("proxy_rights", "维权中心代理退保", "维权中心代理客户要求全额退保，按退保金额收取服务费，并要求只与其联系。"),
             ("proxy_rights", "债务规划代理", "债务规划公司以委托书代客户协商，要求停息挂账，服务费按减免部分比例收取。"),
         ])]
QUESTION = "青龙团伙的收款账户由谁控制？"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def workbench(tmp_path_factory):
    """The app as ``app.launch`` builds it (login, hardening), on a small store with three users."""
    import logging

    import app

    data = tmp_path_factory.mktemp("wb") / "data"
    old_env = {k: os.environ.pop(k) for k in [k for k in os.environ if k.startswith("XS_")]}
    settings = Settings(data_dir=data, prompts_dir=ROOT / "prompts", port=free_port(), max_upload_mb=1)
    users = UserStore(settings.users_path)
    for name, role in ROLES.items():
        users.add(name, role, PASSWORDS[name], rounds=4)
    service = Service(settings, embedder=HashEmbedder(), llm=None)
    service.kb.add_documents(DOCS)
    root_handlers = list(logging.getLogger().handlers)
    service, demo = app.prepare(settings, service, logs=True)
    demo.launch(auth=app.login_check(service), prevent_thread_lock=True, quiet=True,
                **app.launch_options(settings))
    url = f"http://127.0.0.1:{settings.port}/"
    try:
        yield url, service, data
    finally:
        demo.close()
        for h in list(logging.getLogger().handlers):
            if h not in root_handlers:
                logging.getLogger().removeHandler(h)
                h.close()
        os.environ.update(old_env)


def client(url: str, user: str):
    from gradio_client import Client

    return Client(url, auth=(user, PASSWORDS[user]), verbose=False)


def answer_text(history) -> str:
    content = history[-1]["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def test_nothing_is_served_without_logging_in(workbench):
    url, _service, _ = workbench
    assert httpx.get(url + "config", timeout=10).status_code == 401
    r = httpx.post(url + "gradio_api/call/ask", json={"data": [QUESTION, [], ""]}, timeout=10)
    assert r.status_code == 401
    bad = httpx.post(url + "login", data={"username": "li", "password": "wrong-password"}, timeout=10)
    assert bad.status_code == 400


def test_frontline_never_gets_the_investigator_only_case(workbench):
    url, _service, _ = workbench
    history, sources, status = client(url, "li").predict(QUESTION, [], "", api_name="/ask")
    assert "case-0200" not in sources and "黑鲨" not in sources and "黑鲨" not in answer_text(history)
    history, sources, status = client(url, "wang").predict(QUESTION, [], "", api_name="/ask")
    assert "case-0200" in sources and "黑鲨" in answer_text(history) + sources


def test_frontline_sees_identifiers_masked_investigators_in_full(workbench):
    url, _service, _ = workbench
    q = "冒充客服索要身份证号和银行卡号，要求转账到安全账户"
    _, front, _ = client(url, "li").predict(q, [], "", api_name="/ask")
    assert "case-0201" in front and ID_CARD not in front and CARD not in front
    assert "110101********4514" in front and "6222 **** **** 3446" in front
    _, inv, _ = client(url, "wang").predict(q, [], "", api_name="/ask")
    assert ID_CARD in inv and CARD in inv


def test_admin_endpoints_refuse_other_roles_in_the_handler(workbench):
    from gradio_client.exceptions import AppError

    url, _service, _ = workbench
    for user in ("li", "wang"):
        with pytest.raises(AppError, match="无权限"):
            client(url, user).predict(api_name="/admin_users")
    rows = client(url, "root").predict(api_name="/admin_users")
    assert {r[0] for r in rows["data"]} == set(ROLES) and "$2b$" not in str(rows)


def test_scripted_session_leaves_no_unmasked_identifier_in_any_file(workbench):
    """Log-ins (good, bad, a phone number typed as a user name), questions full of personal data from
    every role, the admin reading and verifying the audit trail; then every file the app wrote under
    the data directory is scanned. The store holds the knowledge base itself and is not a log."""
    url, service, data = workbench
    httpx.post(url + "login", data={"username": PHONE, "password": f"{ID_CARD}x"}, timeout=10)
    httpx.post(url + "login", data={"username": "li", "password": CARD}, timeout=10)
    pii_questions = [f"客户手机 {PHONE}、身份证 {ID_CARD}、卡号 {CARD}，被冒充客服骗了怎么办？",
                     f"邮箱 zhang.san@example.com 微信号 wxid_abc12345 QQ号 12345678 的客户被催收怎么办？"]
    for user in ("li", "wang", "root"):
        c = client(url, user)
        for q in pii_questions:
            c.predict(q, [], "", api_name="/ask")
    admin = client(url, "root")
    admin.predict(100, api_name="/admin_audit")
    verdict = admin.predict(api_name="/admin_audit_verify")
    assert verdict.startswith("✅")
    _exercise_other_tabs(service)
    import importlib.util

    if importlib.util.find_spec("ui.triage"):
        decisions = (data / "decisions.jsonl").read_text(encoding="utf-8")
        assert decisions.count("\n") == 2 and PHONE not in decisions  # both decisions, masked

    written = [p for p in data.rglob("*") if p.is_file() and "store" not in p.relative_to(data).parts]
    assert any(p.name == "audit.jsonl" for p in written) and any(p.name == "app.log" for p in written)
    leaks = {}
    for path in written:
        found = find_unmasked(path.read_bytes().decode("utf-8", errors="ignore"))
        if found:
            leaks[str(path.relative_to(data))] = [e.value for e in found]
    assert leaks == {}
    audit = service.audit.path.read_text(encoding="utf-8")
    assert '"action": "login"' in audit and '"outcome": "failed"' in audit and PHONE not in audit
    assert service.audit.verify().ok


def _exercise_other_tabs(service: Service) -> None:
    """The other tabs' handlers as the logged-in users call them: triage (with a recorded decision and
    the export of decisions), a reply draft, a lead search — where those modules are installed."""
    import importlib

    class Request:  # what gr.Request offers the handlers: the logged-in user's name
        def __init__(self, username: str) -> None:
            self.username = username

    complaint = f"我的手机 {PHONE}，身份证 {ID_CARD}，有人自称法务公司要我交服务费代理投诉，卡号 {CARD}。"

    def call(module: str, cls: str, method: str, *args, user: str = "li"):
        try:
            handlers = getattr(importlib.import_module(module), cls)(service)
        except ModuleNotFoundError:
            return None
        result = getattr(handlers, method)(*args, request=Request(user))
        return list(result)[-1] if hasattr(result, "__next__") else result

    for user in ("li", "wang"):
        out = call("ui.triage", "TriageHandlers", "classify", complaint, user=user)
        if out is not None:
            state = out[-1]
            assert state, out[0]
            assert "case-0200" not in str(out) or user == "wang"  # evidence narrowed to the role's access
            call("ui.triage", "TriageHandlers", "record", state, "", "", f"已电话联系 {PHONE}", user=user)
            call("ui.triage", "TriageHandlers", "export_cases", user=user)
        call("ui.draft", "DraftHandlers", "draft", complaint, user=user)
    call("ui.leads", "LeadsHandlers", "search", PHONE, user="wang")


def test_users_file_and_audit_key_are_never_served(workbench):
    url, service, data = workbench
    c = httpx.Client(base_url=url, timeout=10)
    c.post("login", data={"username": "root", "password": PASSWORDS["root"]})
    for secret in (service.settings.users_path, service.audit.path.with_name("audit.jsonl.key"), service.audit.path):
        for route in (f"gradio_api/file={secret}", f"file={secret}"):
            r = c.get(route)
            assert r.status_code in (403, 404), (route, r.status_code)
            assert b"$2b$" not in r.content



def test_uploads_over_the_size_limit_are_refused(workbench):
    url, _service, _ = workbench
    c = httpx.Client(base_url=url, timeout=30)
    assert c.post("gradio_api/upload", files={"files": ("a.txt", b"x" * 100)}).status_code == 401  # not logged in
    c.post("login", data={"username": "li", "password": PASSWORDS["li"]})
    small = c.post("gradio_api/upload", files={"files": ("a.txt", "投诉".encode() * 100)})
    assert small.status_code == 200
    big = c.post("gradio_api/upload", files={"files": ("b.txt", b"x" * (2 * 1024 * 1024))})
    assert big.status_code == 413
