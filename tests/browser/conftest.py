"""The workbench in a real browser: one small store, one app, one headless Chromium per session.

The store is built from a handful of corpus files (a few regulations, ~30 cases with two planted
gangs, ~10 scripts) with the product's real embedding model, so every tab does its real job
quickly. Chromium is Debian's (``/usr/bin/chromium``, installed by ``make browser``), started with
the flags that keep it off the network. Screenshots go to ``XS_SCREENSHOT_DIR``
(default ``artifacts/screenshots/``) for reviewers.

Outside CI a machine without chromium skips this suite with the reason; in CI (``CI`` set) a
missing browser is an error, so the suite can never pass by not running.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("XS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
    "--metrics-recording-only", "--no-default-browser-check", "--lang=zh-CN",
]
# The account the suite creates and logs in with through the login form.
TEST_USER = "审查员"
TEST_PASSWORD = "browser-suite-only"
SCREENSHOT_DIR = Path(os.environ.get("XS_SCREENSHOT_DIR", ROOT / "artifacts" / "screenshots"))

REGULATIONS = [
    "reg-003-zhengxinye-guanli-tiaoli.md",
    "reg-004-zhengxin-yewu-guanli-banfa.md",
    "reg-002-fan-dianxin-wangluo-zhapian-fa.md",
    "reg-007-xiaofei-tousu-chuli-guanli-banfa.md",
    "reg-015-xingfa-xiuzhengan-shiyi-cuishou-feifa-zhaiwu.md",
]
# Two planted gangs (a "法务" WeChat id shared by proxy-rights complaints, a credit-repair
# company), so the leads tab has real groups to find; then a few cases of every other label.
GANG_CASES = ["case-0020", "case-0028", "case-0039", "case-0054", "case-0083", "case-0088", "case-0123",
              "case-0079", "case-0081", "case-0101", "case-0132", "case-0139", "case-0148", "case-0172"]
CASES_PER_LABEL = 3
SCRIPTS = 10


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    if in_ci():
        pytest.fail(f"browser suite cannot run in CI: {reason}. `make browser` installs it "
                    "(apt-get install chromium fonts-wqy-microhei).", pytrace=False)
    pytest.skip(f"browser suite skipped: {reason} (run `make browser`, or set CI=true to make this an error)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def small_corpus(dest: Path) -> Path:
    """Copy a slice of corpus/ into ``dest``: regulations as files, cases and scripts as JSONL."""
    (dest / "regulations").mkdir(parents=True)
    for name in REGULATIONS:
        shutil.copy(ROOT / "corpus" / "regulations" / name, dest / "regulations" / name)
    cases = [json.loads(line) for line in (ROOT / "corpus/cases/cases.jsonl").read_text("utf-8").splitlines() if line]
    chosen = [c for c in cases if c["id"] in GANG_CASES]
    per_label: dict[str, int] = {}
    for c in cases:
        if c["id"] in GANG_CASES or per_label.get(c["label"], 0) >= CASES_PER_LABEL:
            continue
        per_label[c["label"]] = per_label.get(c["label"], 0) + 1
        chosen.append(c)
    scripts = (ROOT / "corpus/scripts/scripts.jsonl").read_text("utf-8").splitlines()[:SCRIPTS]
    (dest / "cases").mkdir()
    (dest / "cases" / "cases.jsonl").write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in chosen),
                                                "utf-8")
    (dest / "scripts").mkdir()
    (dest / "scripts" / "scripts.jsonl").write_text("\n".join(scripts) + "\n", "utf-8")
    return dest


@pytest.fixture(scope="session")
def browser_settings(tmp_path_factory):
    from rag.settings import Settings

    base = tmp_path_factory.mktemp("browser")
    return Settings(data_dir=base / "data", prompts_dir=ROOT / "prompts", llm_base_url="", llm_model="",
                    concurrency=2)


@pytest.fixture(scope="session")
def browser_service(browser_settings, real_embedder, tmp_path_factory):
    """A service over a small real store (real embedding model, offline engine)."""
    from ingest.pipeline import ingest_paths
    from rag.service import Service

    service = Service(browser_settings, embedder=real_embedder, llm=None)
    corpus = small_corpus(tmp_path_factory.mktemp("corpus") / "corpus")
    stats = ingest_paths(service.kb, [corpus])
    assert not stats.failed, stats.failed
    assert stats.documents >= 40, stats.documents
    service.test_corpus = corpus  # the knowledge-base tab may ingest from here
    return service


@pytest.fixture(scope="session")
def app_url(browser_service):
    """The workbench as ``app.launch`` serves it (same hardening, login on), on a free port."""
    import app

    settings = browser_service.settings
    if hasattr(app, "login_check"):
        # The account the suite logs in with (few bcrypt rounds: the login stays quick).
        browser_service.users.add(TEST_USER, "admin", TEST_PASSWORD, rounds=4)
        _, demo = app.prepare(settings, browser_service)
        options = {**app.launch_options(settings), "auth": app.login_check(browser_service)}
    else:
        demo = app.build_app(browser_service)
        demo.queue(default_concurrency_limit=settings.concurrency)
        options = {"server_name": "127.0.0.1", "share": False, "css": app.CSS, "footer_links": []}
    port = free_port()
    demo.launch(**{**options, "server_port": port, "prevent_thread_lock": True, "quiet": True})
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the Python package playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR


@pytest.fixture(scope="session")
def context(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1440, "height": 960}, locale="zh-CN",
                              timezone_id="Asia/Shanghai", accept_downloads=True)
    ctx.set_default_timeout(30_000)
    # Everything the page asks for must come from the app itself: no fonts, CDNs or trackers.
    outside: list[str] = []

    def only_local(route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:", "blob:")):
            return route.continue_()
        outside.append(url)
        return route.abort()

    ctx.route("**/*", only_local)
    ctx.outside_requests = outside
    yield ctx
    ctx.close()


@pytest.fixture
def page(context, app_url):
    """A fresh page on the workbench, logged in when the app asks for a login."""
    from tests.browser.pages import open_workbench

    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    open_workbench(pg, app_url)
    pg.js_errors = errors
    yield pg
    pg.close()


@pytest.fixture
def shoot(screenshot_dir):
    """Save a full-page screenshot named ``<n>-<tab>.png``; returns its path."""

    def _shoot(page, name: str) -> Path:
        page.wait_for_timeout(300)  # let the last render settle (progress bars fade out)
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return _shoot
