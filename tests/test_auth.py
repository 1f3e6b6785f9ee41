"""Users, roles, permissions, request limits, and retrieval narrowed to a role's access levels."""

from __future__ import annotations

import io
import os
import stat

import pytest

from rag.auth import (
    ROLES,
    AccessDenied,
    Principal,
    UserFileError,
    UserStore,
    acting_as,
    bootstrap_admin,
    hash_password,
    require,
    restrict_access,
    verify_password,
)
from rag.documents import Document
from rag.ratelimit import RateLimited, RateLimiter
from rag.retrieval import Filters
from rag.service import Service

ROUNDS = 4  # bcrypt cost for tests; the product default is 12

DOCS = [
    Document("reg-003", "任何机构不得以收费为条件承诺删除真实的逾期记录。信息主体可以免费提出异议。", "regulation",
             "征信业管理条例"),
    Document("case-0100", "征信修复团伙案：收费删除逾期记录，骗取服务费，收款卡 6222020200112233446。", "case",
             "征信修复团伙（内部）", {"access": "investigator", "label": "credit_repair"}),
    Document("case-0101", "客户投诉征信修复广告，称三天删除逾期记录，先交服务费。", "case", "征信修复广告投诉",
             {"access": "public", "label": "credit_repair"}),
]


@pytest.fixture
def store(tmp_path):
    s = UserStore(tmp_path / "users.toml")
    s.add("li", "frontline", "frontline-pass", rounds=ROUNDS)
    s.add("wang", "investigator", "investigator-pass", rounds=ROUNDS)
    return s


# -------------------------------------------------------------------------------- passwords
def test_passwords_are_bcrypt_hashed_and_checked():
    h = hash_password("correct horse", rounds=ROUNDS)
    assert h.startswith("$2b$04$") and "correct horse" not in h
    assert verify_password("correct horse", h)
    assert not verify_password("correct hors", h)
    assert not verify_password("correct horse", None)  # unknown user: still False, same work
    assert not verify_password("x" * 100, h)  # over bcrypt's 72 bytes: refused, never truncated


def test_password_policy_names_the_problem():
    with pytest.raises(ValueError, match="至少 8"):
        hash_password("short", rounds=ROUNDS)
    with pytest.raises(ValueError, match="72"):
        hash_password("长" * 30, rounds=ROUNDS)


# -------------------------------------------------------------------------------- users file
def test_users_file_holds_hashes_only_and_is_owner_readable(store):
    text = store.path.read_text(encoding="utf-8")
    assert "frontline-pass" not in text and text.count("$2b$04$") == 2
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.listing() == [
        {"name": "li", "role": "frontline", "role_name": "一线员工", "disabled": False},
        {"name": "wang", "role": "investigator", "role_name": "调查人员", "disabled": False},
    ]


def test_authenticate(store):
    assert store.authenticate("li", "frontline-pass") == Principal("li", "frontline")
    assert store.authenticate(" wang ", "investigator-pass") == Principal("wang", "investigator")
    assert store.authenticate("li", "investigator-pass") is None
    assert store.authenticate("nobody", "frontline-pass") is None


def test_a_changed_file_takes_effect_at_once(store):
    assert store.principal("li").role == "frontline"
    store.add("li", "investigator", "new-password-1", rounds=ROUNDS)
    assert store.principal("li").role == "investigator"
    assert store.authenticate("li", "frontline-pass") is None
    assert store.remove("li") and store.principal("li") is None
    text = store.path.read_text(encoding="utf-8").replace('role = "investigator"', 'role = "investigator"\ndisabled = true')
    store.path.write_text(text, encoding="utf-8")
    assert store.principal("wang") is None and store.authenticate("wang", "investigator-pass") is None


@pytest.mark.parametrize("content, message", [
    ('[users.a]\nrole = "boss"\npassword_hash = "$2b$04$x"\n', "角色 'boss' 未知"),
    ('[users.a]\nrole = "admin"\n', "缺少 bcrypt 密码哈希"),
    ("[users.a\n", "不是合法 TOML"),
])
def test_a_bad_users_file_is_refused_with_the_entry_named(tmp_path, content, message):
    path = tmp_path / "users.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserFileError, match=message):
        UserStore(path).users()


def test_bad_names_and_roles_are_refused(tmp_path):
    s = UserStore(tmp_path / "u.toml")
    with pytest.raises(ValueError, match="用户名"):
        s.add("a b", "admin", "long-enough", rounds=ROUNDS)
    with pytest.raises(ValueError, match="未知角色"):
        s.add("zhao", "root", "long-enough", rounds=ROUNDS)


def test_bootstrap_creates_one_admin_with_a_private_random_password(tmp_path):
    s = UserStore(tmp_path / "users.toml")
    secret = tmp_path / "initial_admin_password.txt"
    assert bootstrap_admin(s, secret, rounds=ROUNDS) == str(secret)
    password = secret.read_text().strip()
    assert len(password) >= 12 and stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert s.authenticate("admin", password) == Principal("admin", "admin")
    assert bootstrap_admin(s, secret, rounds=ROUNDS) is None  # users exist: nothing more


# -------------------------------------------------------------------------------- permissions
def test_permission_table():
    front, inv, adm = (Principal("a", r) for r in ROLES)
    assert front.can("qa.ask") and front.can("triage.run") and front.can("draft.run")
    assert not front.can("leads.run") and not front.can("pii.raw") and not front.can("admin.audit")
    assert inv.can("leads.run") and inv.can("pii.raw") and not inv.can("kb.ingest") and not inv.can("admin.users")
    assert adm.can("admin.users") and adm.can("kb.ingest") and adm.can("evals.run")


def test_require_raises_a_chinese_permission_error():
    with pytest.raises(PermissionError, match="无权限：一线员工（li）不能线索汇总，需要角色：调查人员、管理员"):
        require(Principal("li", "frontline"), "leads.run")
    with pytest.raises(AccessDenied, match="请先登录"):
        require(None, "qa.ask")
    with pytest.raises(KeyError, match="未知权限"):
        require(Principal("li", "frontline"), "no.such")
    assert require(Principal("w", "investigator"), "leads.run").name == "w"


def test_access_levels_never_widen():
    front = Principal("li", "frontline")
    assert restrict_access(None, front) == frozenset({"public"})
    assert restrict_access(frozenset({"public", "investigator"}), front) == frozenset({"public"})
    assert restrict_access(frozenset({"investigator"}), Principal("w", "investigator")) == frozenset({"investigator"})
    assert restrict_access(None, None) is None


# -------------------------------------------------------------------------------- request limits
def test_rate_limiter_is_a_sliding_window_per_user():
    now = [0.0]
    rl = RateLimiter(3, clock=lambda: now[0])
    for _ in range(3):
        rl.check("li")
    with pytest.raises(RateLimited, match="每分钟最多 3 次，请 60 秒后再试"):
        rl.check("li")
    rl.check("wang")  # another user has a window of their own
    now[0] = 30.0
    assert not rl.allow("li")
    now[0] = 60.5
    assert rl.allow("li") and rl.remaining("li") == 2


# -------------------------------------------------------------------------------- retrieval by role
@pytest.fixture
def service(settings, hash_embedder):
    svc = Service(settings, embedder=hash_embedder, llm=None)
    svc.kb.add_documents(DOCS)
    return svc


def test_frontline_never_retrieves_investigator_only_cases(service):
    query = "征信修复 收费删除逾期记录 团伙 收款卡"
    front = service.for_user(Principal("li", "frontline"))
    inv = service.for_user(Principal("wang", "investigator"))
    assert "case-0100" not in {h.doc_id for h in front.search(query, k=10)}
    assert "case-0100" not in {h.doc_id for h in front.search("6222020200112233446", k=10)}  # exact-id path too
    assert "case-0100" not in {h.doc_id for h in front.search(query, k=10, filters=Filters(access=frozenset({"investigator"})))}
    assert "case-0100" in {h.doc_id for h in inv.search(query, k=10)}
    assert "case-0100" not in {h.doc_id for h in front.ask(query).sources}


def test_any_search_during_a_users_work_is_narrowed(service):
    """A task engine that calls service.retriever without filters still cannot reach the case."""
    query = "征信修复 收费删除逾期记录 团伙"
    assert "case-0100" in {h.doc_id for h in service.retriever.search(query, k=10)}
    with acting_as(Principal("li", "frontline")):
        assert "case-0100" not in {h.doc_id for h in service.retriever.search(query, k=10)}
        assert "case-0100" not in {h.doc_id for h in service.search(query, k=10)}


def test_frontline_sees_masked_card_numbers_investigators_see_them_whole(service):
    front = service.for_user(Principal("li", "frontline"))
    inv = service.for_user(Principal("wang", "investigator"))
    assert "6222 **** **** 3446" in front.show("收款卡 6222020200112233446")
    hit = next(h for h in inv.search("收款卡 6222020200112233446", k=5) if h.doc_id == "case-0100")
    assert "6222020200112233446" in hit.text


def test_session_refusals_and_limits_are_audited(service):
    service.settings.requests_per_minute = 2
    service.__dict__.pop("limiter", None)
    front = service.for_user(Principal("li", "frontline"))
    front.search("征信", k=1)
    front.search("征信", k=1)
    with pytest.raises(RateLimited):
        front.search("征信", k=1)
    with pytest.raises(AccessDenied):
        front.admit("leads.run")
    outcomes = [(e["action"], e["outcome"]) for e in service.audit.entries()]
    assert outcomes == [("kb.search", "ok"), ("kb.search", "ok"), ("kb.search", "refused"), ("leads.run", "refused")]


# -------------------------------------------------------------------------------- CLI
def test_cli_users_add_reads_the_password_from_stdin(tmp_path, monkeypatch, capsys):
    from rag.cli import main

    monkeypatch.setenv("XS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("a-good-password\n"))
    assert main(["users", "add", "zhao", "--role", "investigator", "--rounds", "4"]) == 0
    assert "已保存用户 zhao" in capsys.readouterr().out
    assert UserStore(tmp_path / "users.toml").authenticate("zhao", "a-good-password").role == "investigator"
    assert main(["users", "list"]) == 0
    listed = capsys.readouterr().out
    assert "zhao" in listed and "$2b$" not in listed
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "qian", "--role", "admin"]) == 1
    assert "密码太短" in capsys.readouterr().err
    assert main(["users", "add", "qian"]) == 1
