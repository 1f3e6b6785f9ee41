"""Users, roles and permissions.

Users live in one TOML file (``users_file``, default ``<data_dir>/users.toml``) with bcrypt hashes::

    [users.wang]
    role = "investigator"
    password_hash = "$2b$12$..."

Three roles: ``frontline`` (complaint staff), ``investigator`` and ``admin``. What a role may do is
the table :data:`PERMISSIONS`; which documents it may retrieve is :data:`ROLE_ACCESS` (a document's
``access`` metadata, ``public`` by default). Every handler calls :func:`require` itself — hiding a
tab is not a permission check. ``python -m rag users add NAME --role R`` writes a user.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import tomllib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

ROLES = ("frontline", "investigator", "admin")
ROLE_NAMES = {"frontline": "一线员工", "investigator": "调查人员", "admin": "管理员"}

# Access levels each role may retrieve (documents carry metadata access=..., default "public").
ROLE_ACCESS: dict[str, frozenset[str]] = {
    "frontline": frozenset({"public"}),
    "investigator": frozenset({"public", "investigator"}),
    "admin": frozenset({"public", "investigator"}),
}

_ALL = frozenset(ROLES)
_INV = frozenset({"investigator", "admin"})
_ADM = frozenset({"admin"})
# permission -> (roles allowed, what it is called in messages)
PERMISSIONS: dict[str, tuple[frozenset[str], str]] = {
    "qa.ask": (_ALL, "问答"),
    "kb.search": (_ALL, "检索知识库"),
    "kb.view": (_ALL, "查看知识库"),
    "kb.ingest": (_ADM, "导入或删除知识库文档"),
    "triage.run": (_ALL, "投诉研判"),
    "draft.run": (_ALL, "回复起草"),
    "leads.run": (_INV, "线索汇总"),
    "evals.view": (_INV, "查看评测结果"),
    "evals.run": (_ADM, "运行评测"),
    "pii.raw": (_INV, "查看完整的身份证号、银行卡号与手机号"),
    "admin.users": (_ADM, "查看用户与角色"),
    "admin.audit": (_ADM, "查看与校验审计日志"),
    "admin.settings": (_ADM, "查看系统配置"),
}

MIN_PASSWORD = 8
MAX_PASSWORD_BYTES = 72  # bcrypt's limit; longer passwords are refused, never silently cut
DEFAULT_ROUNDS = 12
_NAME = re.compile(r"^[\w.\-@]{2,32}$")
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = b"$2b$12$nWI0KI7JMOF.w2J3UcKwDu/bRTFEg4SblLhlJ1ScoXXlrkXEHbWMW"


class AccessDenied(PermissionError):
    """A principal lacks a permission; the message is Chinese and safe to show."""


class UserFileError(ValueError):
    """The users file is missing, malformed or names an unknown role."""


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise UserFileError(f"未知角色 {self.role!r}（可选：{'、'.join(ROLES)}）")

    @property
    def access(self) -> frozenset[str]:
        """Document access levels this principal may retrieve."""
        return ROLE_ACCESS[self.role]

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]

    def can(self, permission: str) -> bool:
        return self.role in _permission(permission)[0]


def _permission(permission: str) -> tuple[frozenset[str], str]:
    try:
        return PERMISSIONS[permission]
    except KeyError:
        raise KeyError(f"未知权限 {permission!r}（见 rag.auth.PERMISSIONS）") from None


def require(principal: Principal | None, permission: str) -> Principal:
    """The principal, when it holds ``permission``; otherwise :class:`AccessDenied`."""
    roles, what = _permission(permission)
    if principal is None:
        raise AccessDenied(f"请先登录后再{what}。")
    if principal.role not in roles:
        allowed = "、".join(ROLE_NAMES[r] for r in ROLES if r in roles)
        raise AccessDenied(f"无权限：{principal.role_name}（{principal.name}）不能{what}，需要角色：{allowed}。")
    return principal


def restrict_access(access: frozenset[str] | None, principal: Principal | None) -> frozenset[str] | None:
    """The access levels a search may use: the caller's wish, never more than the principal's."""
    if principal is None:
        return access
    return principal.access if access is None else frozenset(access) & principal.access


# The principal a piece of work runs for. The workbench sets it around every handler step, and the
# service's retriever narrows every search to its access levels, so a task engine that forgets to
# pass filters still never retrieves a document the user may not see.
_acting: ContextVar[Principal | None] = ContextVar("xs_principal", default=None)


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[Principal | None]:
    token = _acting.set(principal)
    try:
        yield principal
    finally:
        _acting.reset(token)


def current_principal() -> Principal | None:
    return _acting.get()


# ------------------------------------------------------------------------------ passwords
def hash_password(password: str, rounds: int = DEFAULT_ROUNDS) -> str:
    import bcrypt

    check_password_policy(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"密码太短：至少 {MIN_PASSWORD} 个字符")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValueError(f"密码太长：最多 {MAX_PASSWORD_BYTES} 字节（bcrypt 的上限）")


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant work whether or not the user exists; False for anything malformed."""
    import bcrypt

    raw = password.encode("utf-8")
    target = password_hash.encode("ascii") if password_hash else _DUMMY_HASH
    if len(raw) > MAX_PASSWORD_BYTES:
        raw = b""  # bcrypt 5 refuses >72 bytes; such a password can never match a stored hash
    try:
        ok = bcrypt.checkpw(raw, target)
    except ValueError:
        return False
    return ok and password_hash is not None


# ------------------------------------------------------------------------------ users file
@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str
    disabled: bool = False

    @property
    def principal(self) -> Principal:
        return Principal(self.name, self.role)


def validate_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise ValueError(f"用户名 {name!r} 不合法：2–32 个字母、数字、汉字或 . _ - @")
    return name


def read_users(path: Path) -> dict[str, User]:
    """All users in the file; raises :class:`UserFileError` naming the bad entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserFileError(f"用户文件 {path} 不存在：用 python -m rag users add NAME --role ROLE 创建") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserFileError(f"用户文件 {path} 不是合法 TOML：{exc}") from None
    users: dict[str, User] = {}
    for name, entry in (data.get("users") or {}).items():
        if not isinstance(entry, dict):
            raise UserFileError(f"用户文件 {path}：users.{name} 应为表")
        role = entry.get("role")
        if role not in ROLES:
            raise UserFileError(f"用户文件 {path}：用户 {name} 的角色 {role!r} 未知（可选：{'、'.join(ROLES)}）")
        password_hash = str(entry.get("password_hash") or "")
        if not password_hash.startswith("$2"):
            raise UserFileError(f"用户文件 {path}：用户 {name} 缺少 bcrypt 密码哈希（password_hash）")
        users[name] = User(name, role, password_hash, bool(entry.get("disabled", False)))
    return users


def _toml_str(value: str) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def write_users(path: Path, users: Iterable[User]) -> None:
    """Write the file atomically, readable by its owner only."""
    lines = ["# 线索 用户与角色。修改：python -m rag users add NAME --role frontline|investigator|admin", ""]
    for u in sorted(users, key=lambda u: u.name):
        lines += [f"[users.{_toml_str(u.name)}]", f"role = {_toml_str(u.role)}",
                  f"password_hash = {_toml_str(u.password_hash)}"]
        if u.disabled:
            lines.append("disabled = true")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class UserStore:
    """The users file, re-read when it changes (a removed or demoted user loses access at once)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int], dict[str, User]] | None = None

    def exists(self) -> bool:
        return self.path.is_file()

    def users(self) -> dict[str, User]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if self._cache is None or self._cache[0] != key:
                self._cache = (key, read_users(self.path))
            return self._cache[1]

    def principal(self, name: str | None) -> Principal | None:
        user = self.users().get(name or "")
        return None if user is None or user.disabled else user.principal

    def authenticate(self, name: str, password: str) -> Principal | None:
        user = self.users().get((name or "").strip())
        ok = verify_password(password or "", user.password_hash if user else None)
        if not ok or user is None or user.disabled:
            return None
        return user.principal

    def add(self, name: str, role: str, password: str, rounds: int = DEFAULT_ROUNDS) -> User:
        """Create or replace a user (a new password, a new role)."""
        name = validate_name(name)
        if role not in ROLES:
            raise ValueError(f"未知角色 {role!r}（可选：{'、'.join(ROLES)}）")
        user = User(name, role, hash_password(password, rounds))
        with self._lock:
            users = dict(read_users(self.path)) if self.exists() else {}
            users[name] = user
            write_users(self.path, users.values())
            self._cache = None
        return user

    def remove(self, name: str) -> bool:
        with self._lock:
            users = dict(read_users(self.path)) if self.exists() else {}
            if users.pop(name, None) is None:
                return False
            write_users(self.path, users.values())
            self._cache = None
        return True

    def listing(self) -> list[dict[str, object]]:
        """Name, role and state of every user; never the hashes."""
        return [{"name": u.name, "role": u.role, "role_name": ROLE_NAMES[u.role], "disabled": u.disabled}
                for u in sorted(self.users().values(), key=lambda u: u.name)]


def bootstrap_admin(store: UserStore, secret_file: Path, rounds: int = DEFAULT_ROUNDS) -> str | None:
    """First start without a users file: create ``admin`` with a random password written to
    ``secret_file`` (owner-only). Returns the file's path as text, or None when users exist."""
    if store.exists():
        return None
    password = secrets.token_urlsafe(12)
    store.add("admin", "admin", password, rounds=rounds)
    secret_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(password + "\n")
    return str(secret_file)
