"""The ``openai_server`` fixture: a scripted OpenAI-protocol server on 127.0.0.1 (tests/openai_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.openai_server import OpenAIServer


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    server = OpenAIServer().start()
    try:
        yield server
    finally:
        server.stop()
    problems = server.problems()
    if problems:
        pytest.fail("OpenAI test server: " + "; ".join(problems), pytrace=False)
