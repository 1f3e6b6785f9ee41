"""``python -m tests.ingest_runner ARGS…``: the real ``python -m ingest`` CLI in its own process, with the
fast deterministic HashEmbedder instead of the model, for tests that kill or race real processes."""

import sys

from ingest.__main__ import main
from tests.fakes import HashEmbedder

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], embedder=HashEmbedder()))
