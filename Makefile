# Two commands matter: `make run` (set up, build the store from corpus/, start the workbench)
# and `make test` (set up, run the tests). Both are idempotent: a second run skips what is done.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export XS_DATA_DIR ?= data

.PHONY: run test setup browser prepare store bench-retrieval clean-data

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# First-use preparation: convert the bundled embedding model, seed tiktoken's cache.
prepare: setup
	$(BIN)/python -m rag prepare

# Build (or bring up to date) the default store from corpus/: unchanged documents are skipped.
store: prepare
	$(BIN)/python -m ingest corpus/ --quiet

run: store
	$(BIN)/python app.py

# The browser tests drive Debian's chromium (Playwright's own browser download does not work
# offline); a CJK and an emoji font make the pages readable in their screenshots. Installed once.
BROWSER_PACKAGES := chromium fonts-wqy-microhei fonts-noto-color-emoji
browser:
	@command -v chromium >/dev/null && fc-list :lang=zh | grep -q . && fc-list | grep -qi emoji || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null)

test: setup browser
	$(BIN)/python -m pytest

bench-retrieval: prepare
	$(BIN)/python -m evals bench retrieval

clean-data:
	rm -rf $(XS_DATA_DIR)
