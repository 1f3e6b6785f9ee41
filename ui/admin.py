"""管理 tab: users and roles (never the hashes), the audit trail (masked) with its hash-chain
check, and a summary of the settings without secrets. Administrators only, checked per handler."""

from __future__ import annotations

from typing import Any

import gradio as gr

from rag.auth import PERMISSIONS, ROLE_NAMES, ROLES
from rag.pii import mask
from rag.service import Service
from ui.context import UIContext, guarded

AUDIT_COLUMNS = ["seq", "ts", "user", "role", "action", "outcome", "doc_ids", "prompt", "backend", "model",
                 "input_hash", "output_hash", "detail"]
AUDIT_HEADERS = ["序号", "时间", "用户", "角色", "操作", "结果", "文档", "提示词", "引擎", "模型",
                 "输入哈希", "输出哈希", "说明"]
MAX_DOC_IDS = 6  # an answer may show dozens of documents; the log file keeps them all
USER_COLUMNS = ["用户名", "角色", "角色说明", "已停用"]
SECRET_FIELDS = {"llm_api_key"}


def permission_table() -> list[list[str]]:
    return [[name, what, "、".join(ROLE_NAMES[r] for r in ROLES if r in roles)]
            for name, (roles, what) in PERMISSIONS.items()]


class AdminHandlers:
    def __init__(self, service: Service) -> None:
        self.service = service

    @guarded("admin.users", audit=False)
    def users(self, request: gr.Request | None = None) -> list[list[Any]]:
        return [[u["name"], u["role"], u["role_name"], "是" if u["disabled"] else ""] for u in self.service.users.listing()]

    @guarded("admin.audit")
    def audit(self, limit: float = 100, request: gr.Request | None = None) -> list[list[Any]]:
        rows = []
        for e in reversed(self.service.audit.tail(int(limit or 100))):
            row = []
            for col in AUDIT_COLUMNS:
                value = e.get(col, "")
                if col in ("input_hash", "output_hash"):
                    value = str(value)[:12]
                elif isinstance(value, list):
                    more = f" 等 {len(value)} 篇" if len(value) > MAX_DOC_IDS else ""
                    value = ", ".join(map(str, value[:MAX_DOC_IDS])) + more
                row.append(mask(str(value)))
            rows.append(row)
        return rows

    @guarded("admin.audit")
    def verify(self, request: gr.Request | None = None) -> str:
        verdict = self.service.audit.verify()
        return ("✅ " if verdict.ok else "❌ ") + verdict.message(self.service.audit.path)

    @guarded("admin.settings", audit=False)
    def settings(self, request: gr.Request | None = None) -> list[list[str]]:
        s = self.service.settings
        rows = []
        for name, value in s.model_dump().items():
            if name in SECRET_FIELDS:
                value = "已设置" if s.llm_api_key.get_secret_value() else "未设置"
            rows.append([name, mask(str(value))])
        rows += [["users_file（实际）", str(s.users_path)], ["audit_log（实际）", str(s.audit_path)]]
        return rows


def build(ctx: UIContext) -> None:
    h = AdminHandlers(ctx.service)
    with gr.Tab("用户与角色"):
        refresh_users = gr.Button("刷新用户列表")
        users = gr.Dataframe(headers=USER_COLUMNS, interactive=False, elem_id="xs-users")
        gr.Markdown("新增或修改用户（密码以 bcrypt 哈希保存）：`python -m rag users add 用户名 --role frontline|investigator|admin`")
        gr.Dataframe(value=permission_table(), headers=["权限", "说明", "允许的角色"], interactive=False)
    with gr.Tab("审计日志"):
        with gr.Row():
            limit = gr.Number(100, label="显示最近条数", precision=0, minimum=1, maximum=5000)
            refresh_audit = gr.Button("刷新")
            verify = gr.Button("校验哈希链", variant="primary", elem_id="xs-audit-verify")
        verdict = gr.Markdown("", elem_id="xs-audit-verdict")
        audit = gr.Dataframe(headers=AUDIT_HEADERS, interactive=False, wrap=True, elem_id="xs-audit")
    with gr.Tab("系统配置"):
        refresh_settings = gr.Button("刷新")
        settings = gr.Dataframe(headers=["配置项", "值"], interactive=False, elem_id="xs-settings")
    refresh_users.click(h.users, None, users, api_name="admin_users")
    refresh_audit.click(h.audit, limit, audit, api_name="admin_audit")
    verify.click(h.verify, None, verdict, api_name="admin_audit_verify")
    refresh_settings.click(h.settings, None, settings, api_name="admin_settings")
