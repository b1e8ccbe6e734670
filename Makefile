# The README's two commands: `make dev` (local stack, offline) and `make test` (every test, offline).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: dev test test-redis lint bench

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# The Korean and English message catalogs (README "Languages"): .po in git, .mo built here (Babel, no GNU gettext).
CATALOGS := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))

locale/%.mo: locale/%.po $(VENV)/.installed
	$(VENV)/bin/pybabel compile -D django -i $< -o $@

dev: $(VENV)/.installed $(CATALOGS)
	PY=$(PY) bash scripts/dev.sh

# `make test-redis` runs the consumer tests again on a real redis-server (tests/conversations/conftest.py); it is
# not part of `make test` yet: it hangs now and then in the event loop's shutdown (see issue 14's closing note).
REDIS_LAYER_TESTS := tests/conversations/test_consumers.py tests/conversations/test_consumer_quota.py tests/conversations/test_resume.py

test: $(VENV)/.installed $(CATALOGS)
	$(PY) -m ruff check .
	$(PY) -m pytest

test-redis: $(VENV)/.installed $(CATALOGS)
	CHAT_TEST_LAYER=redis $(PY) -m pytest -q $(REDIS_LAYER_TESTS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .

bench: $(VENV)/.installed
	$(PY) -m benchmarks.run
