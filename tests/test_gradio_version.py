"""Gradio: a version without the known file-access and SSRF advisories, launched hardened."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import gradio
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SAFE = Version("6.16")


def test_installed_gradio_is_past_the_advisories():
    assert Version(gradio.__version__) >= SAFE, f"gradio {gradio.__version__} < {SAFE}: upgrade (pip install 'gradio>=6.16')"


def test_the_requirement_never_allows_an_older_gradio():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    (spec,) = [d for d in deps if re.match(r"gradio\b(?!_)", d) and not d.startswith("gradio-client")]
    allowed = SpecifierSet(spec.removeprefix("gradio"))
    assert not allowed.contains("6.15.9") and allowed.contains(gradio.__version__)
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line.startswith("gradio==")]
    assert all(Version(p.split("==")[1]) >= SAFE for p in pins)


def test_launch_options_are_hardened(tmp_path):
    import app

    s = Settings(data_dir=tmp_path, max_upload_mb=20, host="127.0.0.1")
    opts = app.launch_options(s)
    assert opts["share"] is False and opts["allowed_paths"] == [] and opts["max_file_size"] == "20mb"
    assert opts["server_name"] == "127.0.0.1" and opts["ssr_mode"] is False and opts["mcp_server"] is False
    blocked = set(opts["blocked_paths"])
    assert str(s.users_path.resolve()) in blocked and str(s.audit_path.parent.resolve()) in blocked


def test_the_queue_is_bounded(tmp_path, hash_embedder):
    import app
    from rag.auth import UserStore
    from rag.service import Service

    s = Settings(data_dir=tmp_path, queue_size=7, concurrency=3)
    UserStore(s.users_path).add("root", "admin", "admin-pass-1", rounds=4)
    _service, demo = app.prepare(s, Service(s, embedder=hash_embedder, llm=None))
    assert demo._queue.max_size == 7 and demo._queue.default_concurrency_limit == 3
