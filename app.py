"""Xiansuo workbench (Gradio): composes the tabs in ``ui/``. UI only: all work goes to rag.service.

Run: ``python app.py`` (the README's ``make run`` builds the store first). Hardened by default:
bound to 127.0.0.1, login required (users and roles from ``users_file``; on first start an
``admin`` user is created with a random password written to ``<data_dir>/initial_admin_password.txt``),
no share links, no analytics, no file served outside Gradio's own cache, secrets explicitly
blocked, upload size and queue length capped. Every handler checks the caller's role itself.
"""

from __future__ import annotations

import importlib
import logging
import logging.handlers
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from rag.auth import PERMISSIONS, bootstrap_admin  # noqa: E402
from rag.pii import MaskingFilter  # noqa: E402
from rag.ratelimit import RateLimiter  # noqa: E402
from rag.service import Service  # noqa: E402
from rag.settings import Settings, load_settings  # noqa: E402
from rag.views import CSS, badges  # noqa: E402
from ui.context import UIContext, principal_of  # noqa: E402

log = logging.getLogger("xiansuo.app")

# (tab label, element id, module, permission needed to see it). A tab whose module is not
# installed is left out. Hiding a tab is a courtesy: each handler checks the permission itself.
TABS = [
    ("问答", "qa", "ui.qa", "qa.ask"),
    ("投诉研判", "triage", "ui.triage", "triage.run"),
    ("回复起草", "draft", "ui.draft", "draft.run"),
    ("线索汇总", "leads", "ui.leads", "leads.run"),
    ("知识库", "kb", "ui.kb", "kb.view"),
    ("评测", "evals", "ui.evals", "evals.view"),
    ("管理", "admin", "ui.admin", "admin.users"),
]
LOGIN_ATTEMPTS_PER_MINUTE = 10
INITIAL_PASSWORD_FILE = "initial_admin_password.txt"


def masking_label(settings: Settings) -> str:
    if not settings.llm_configured or settings.llm_is_local:
        return "本地处理"
    return "外发前脱敏" if not settings.llm_send_pii else "外发不脱敏（已配置）"


def header(service: Service) -> str:
    return badges(service.backend_label, not service.settings.llm_configured, masking_label(service.settings))


def available_tabs() -> list[tuple[str, str, object, str]]:
    tabs = []
    for label, tab_id, module, permission in TABS:
        try:
            tabs.append((label, tab_id, importlib.import_module(module), permission))
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return tabs


def build_app(service: Service) -> gr.Blocks:
    ctx = UIContext(service)
    tabs: list[tuple[gr.Tab, str]] = []
    with gr.Blocks(title="线索 · 反欺诈调查助手", analytics_enabled=False) as demo:
        with gr.Row():
            gr.Markdown("## 线索 · 消费金融反欺诈调查助手")
            who = gr.Markdown("", elem_id="xs-user")
        ctx.shared["header"] = gr.HTML(header(service), elem_id="xs-header")
        with gr.Tabs():
            for label, tab_id, module, permission in available_tabs():
                with gr.Tab(label, id=tab_id, elem_id=f"xs-tab-{tab_id}") as tab:
                    module.build(ctx)  # type: ignore[attr-defined]
                tabs.append((tab, permission))

        def on_load(request: gr.Request):
            """Who is logged in, and the tabs that role can use."""
            # Gradio 6 hides a rendered tab on visible="hidden"; visible=False would leave its button.
            try:
                p = principal_of(service, request)
            except PermissionError as exc:
                return [f"⚠ {exc}", *(gr.Tab(visible="hidden") for _ in tabs)]
            logout = " · [退出登录](/logout)" if getattr(request, "username", None) else ""
            return [f"当前用户：**{p.name}**（{p.role_name}）{logout}",
                    *(gr.Tab(visible=True if p.can(perm) else "hidden") for _, perm in tabs)]

        demo.load(on_load, None, [who, *(t for t, _ in tabs)], api_name=False)
    return demo


def login_check(service: Service):
    """Gradio's ``auth=`` callback: bcrypt against the users file, attempts limited per name, audited.
    A failed attempt with an unknown name is recorded without the name (it may be a mistyped password)."""
    attempts = RateLimiter(LOGIN_ATTEMPTS_PER_MINUTE)

    def check(username: str, password: str) -> bool:
        name = (username or "").strip()
        known = name in service.users.users()
        who = name if known else "（未知用户）"
        if not attempts.allow(f"login:{name}"):
            service.audit.record(user=who, role="", action="login", outcome="refused",
                                 detail=f"登录尝试过于频繁（每分钟最多 {LOGIN_ATTEMPTS_PER_MINUTE} 次）")
            return False
        principal = service.users.authenticate(name, password or "")
        service.audit.record(user=who, role=principal.role if principal else "", action="login",
                             outcome="ok" if principal else "failed")
        return principal is not None

    return check


def configure_logging(settings: Settings) -> None:
    """Logs go to ``<data_dir>/logs/app.log`` and the console, personal data always masked."""
    folder = settings.data_dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    ours: list[logging.Handler] = []
    if not any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        handler = logging.handlers.RotatingFileHandler(folder / "app.log", maxBytes=10_000_000, backupCount=5,
                                                       encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        ours.append(handler)
    if not any(type(h) is logging.StreamHandler for h in root.handlers):
        ours.append(logging.StreamHandler())
    for handler in ours:
        handler.addFilter(MaskingFilter())
        root.addHandler(handler)
    root.setLevel(logging.INFO)


def launch_options(settings: Settings) -> dict:
    """Everything ``Blocks.launch`` gets apart from auth: the hardening in one place (tested)."""
    secrets = [settings.users_path, settings.data_dir / INITIAL_PASSWORD_FILE, settings.audit_path.parent]
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        "share": False,
        "max_file_size": f"{settings.max_upload_mb}mb",
        "allowed_paths": [],
        "blocked_paths": [str(p.resolve()) for p in secrets],
        "ssr_mode": False,
        "enable_monitoring": False,
        "strict_cors": True,
        "mcp_server": False,
        "show_error": True,
        "css": CSS,
        "footer_links": [],
        "auth_message": "线索 · 请使用管理员分配的账号登录",
    }


def prepare(settings: Settings, service: Service | None = None, logs: bool = False) -> tuple[Service, gr.Blocks]:
    """The users file (first start: an admin with a random password) and the page; with ``logs``,
    the log files too (``launch`` does; tests that share the process's root logger need not)."""
    if logs:
        configure_logging(settings)
    service = service or Service(settings)
    created = bootstrap_admin(service.users, settings.data_dir / INITIAL_PASSWORD_FILE)
    if created:
        print(f"首次启动：已创建管理员账号 admin，初始密码见 {created}（仅本机可读）。"
              "登录后请用 python -m rag users add admin --role admin 修改密码，并删除该文件。")
    demo = build_app(service)
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
    return service, demo


def launch(settings: Settings | None = None, **kwargs):
    settings = settings or load_settings()
    service, demo = prepare(settings, logs=True)
    return demo.launch(auth=login_check(service), **{**launch_options(settings), **kwargs})


__all__ = ["PERMISSIONS", "build_app", "launch", "launch_options", "login_check", "prepare"]

if __name__ == "__main__":
    launch()
