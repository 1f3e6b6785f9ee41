"""``python -m rag users …`` and ``python -m rag audit …``: user accounts and the audit trail.

    python -m rag users add NAME --role frontline|investigator|admin   (password from the prompt or stdin)
    python -m rag users list | remove NAME
    python -m rag audit verify [--file PATH]     exit 1 and the first bad line when the chain is broken
    python -m rag audit tail [--n 20]
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from rag.auth import ROLES, UserStore
from rag.cli import CLIError, command, dump
from rag.settings import load_settings


def _users_store(args: argparse.Namespace) -> UserStore:
    settings = load_settings()
    return UserStore(Path(args.file) if args.file else settings.users_path)


def read_password() -> str:
    """Typed twice at a terminal; one line from stdin otherwise (scripts, CI)."""
    if sys.stdin.isatty():
        first = getpass.getpass("密码：")
        if getpass.getpass("再次输入密码：") != first:
            raise CLIError("两次输入的密码不一致")
        return first
    line = sys.stdin.readline()
    if not line:
        raise CLIError("没有从标准输入读到密码（一行）")
    return line.rstrip("\r\n")


@command("users", "用户与角色：add / list / remove（密码以 bcrypt 哈希保存）")
def _users_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["add", "list", "remove"])
    p.add_argument("name", nargs="?", help="用户名")
    p.add_argument("--role", choices=ROLES, help="角色（add 时必填）")
    p.add_argument("--file", help="用户文件（默认 users_file 或 <XS_DATA_DIR>/users.toml）")
    p.add_argument("--rounds", type=int, default=12, help=argparse.SUPPRESS)


@_users_args.handler
def _users(args: argparse.Namespace) -> int:
    store = _users_store(args)
    if args.action == "list":
        print(dump(store.listing()))
        return 0
    if not args.name:
        raise CLIError(f"users {args.action} 需要用户名")
    if args.action == "remove":
        if not store.remove(args.name):
            raise CLIError(f"用户 {args.name} 不存在于 {store.path}")
        print(f"已删除用户 {args.name}（{store.path}）")
        return 0
    if not args.role:
        raise CLIError("users add 需要 --role（frontline、investigator 或 admin）")
    try:
        user = store.add(args.name, args.role, read_password(), rounds=args.rounds)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    print(f"已保存用户 {user.name}，角色 {user.role}（{store.path}）")
    return 0


@command("audit", "审计日志：verify 校验哈希链（发现被改动或删除的行），tail 查看最近记录")
def _audit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["verify", "tail"])
    p.add_argument("--file", help="审计日志（默认 <XS_DATA_DIR>/audit/audit.jsonl）")
    p.add_argument("--n", type=int, default=20, help="tail 显示的条数")


@_audit_args.handler
def _audit(args: argparse.Namespace) -> int:
    from rag.audit import AuditLog

    log = AuditLog(Path(args.file) if args.file else load_settings().audit_path)
    if args.action == "tail":
        for entry in log.tail(args.n):
            print(json.dumps(entry, ensure_ascii=False))
        return 0
    if not log.path.exists():
        raise CLIError(f"审计日志 {log.path} 不存在")
    verdict = log.verify()
    if not verdict.ok:
        raise CLIError(verdict.message(log.path))
    print(verdict.message(log.path))
    return 0
