# The commands of the README: `make run` (set up, then start the app), `make test` (the whole
# suite, as CI runs it) and `make test-fast` (the everyday tier).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements.txt requirements-cluster.txt

.PHONY: run test test-fast lint browser

$(STAMP): $(REQUIREMENTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(addprefix -r ,$(REQUIREMENTS))
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/streamlit run serve.py

# ruff for style and bugs; pylint only for copied blocks of six or more lines.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pylint --disable=all --enable=duplicate-code --min-similarity-lines=6 --score=n \
		app.py fer_core ui app_pages views tests bench

# The browser tests drive Debian's Chromium (Playwright's own browser download needs the
# internet). Installed when missing and we may (root with apt); otherwise those tests skip.
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| echo "Chromium not installed: the browser tests will be skipped."

# The fast tier on both cores first (a failure there shows in minutes), then the slow tier on
# one: its tests share session fixtures that train, which each xdist worker would train again.
test: lint browser
	$(BIN)/python -m pytest -m "not slow" -n 2
	$(BIN)/python -m pytest -m slow

# The tests not marked slow, on both cores: no training (tests/conftest.py refuses it), no real
# FER-2013, no browser; about two minutes on 2 cores. Each xdist worker builds its own session
# fixtures, cheap here since they only copy committed runs (tests/fixtures/runs).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n 2
