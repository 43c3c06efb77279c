# The two commands a newcomer needs: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000

.PHONY: run test lint deps dev-deps services clean browser-deps

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(VENV)/bin/activate
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.deps

deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

## make run: the whole service (web, worker, beat) on SQLite, the embedded broker and the
## sandbox WhatsApp backend, with demo data. Ctrl-C stops all of it gracefully (scripts/run_local.py:
## sends in flight finish; a second Ctrl-C stops at once).
run: deps
	$(PY) scripts/init_local_env.py
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo
	@echo "Serving http://127.0.0.1:$(PORT)/admin/  (API: /api/docs/, health: /health)"
	PORT=$(PORT) $(PY) scripts/run_local.py

## make test: the whole suite against the machine's PostgreSQL and Redis.
test: dev-deps browser-deps
	$(VENV)/bin/pytest

## The browser tests (tests/e2e) drive Debian's Chromium: installed with apt-get only when missing
## (Playwright never downloads a browser here). Without its "Recommends" (upower, udev, which
## upgrades systemd, mesa, a notification daemon, printer set-up), which a
## headless browser does not use; fonts-liberation, one of them, is named so pages render text, and
## fonts-lohit-deva so the Hindi preference centre renders Devanagari in its screenshots.
CHROMIUM ?= /usr/bin/chromium
browser-deps:
	@test -x $(CHROMIUM) || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-liberation fonts-lohit-deva; }

## make lint: ruff and mypy (django-stubs) clean, and the migrations in step with the models
## (checked with the test settings: manage.py itself needs the environment, see README).
lint: dev-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	DJANGO_SETTINGS_MODULE=tests.settings DATABASE_URL=sqlite://:memory: $(PY) manage.py makemigrations --check --dry-run

clean:
	rm -rf .run db.sqlite3 db.sqlite3-* staticfiles .pytest_cache .mypy_cache .ruff_cache ledger-checkpoints
