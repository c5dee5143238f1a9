# The two commands of the README: `make run` starts the dashboard, `make test` runs every test.
# Both set up what they need on a fresh machine (a virtualenv from requirements.txt; the
# tests also Debian's chromium, which Playwright drives: no browser is downloaded).
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# Local mode serves this computer only; a real deployment (sign-in, access file) sets ADDRESS=0.0.0.0
# behind the hospital's reverse proxy with TLS.
ADDRESS ?= 127.0.0.1

.PHONY: run test chromium lint

$(VENV)/installed: requirements.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

run: $(VENV)/installed
	$(PY) -m streamlit run streamlit_app.py --server.port $(PORT) --server.address $(ADDRESS)

# Chromium prints the meeting pack and runs the browser tests; poppler-utils (pdftotext) reads the
# printed pack back in the tests; the store's tests start a PostgreSQL server of their own (Debian's binaries).
chromium:
	@{ command -v chromium && command -v pdftotext && ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium poppler-utils postgresql; }

test: $(VENV)/installed chromium
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(VENV)/installed
	$(PY) -m ruff check .
