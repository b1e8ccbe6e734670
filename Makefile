# The README's two commands: `make dev` (local stack, offline) and `make test` (every test, offline).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: dev test test-redis test-standin lint bench

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

# `make test` runs the whole suite on the in-memory Channels layer and moto, then two more passes: the consumer tests
# (the ones that open a WebSocket, marked in tests/conftest.py) on a real redis-server, and the DynamoDB-backed
# tests on the benchmark's in-memory DynamoDB stand-in (benchmarks/standin.py), so it is proved correct for what
# the product sends. `make test-redis` and `make test-standin` run one pass alone.
STANDIN_TESTS := tests/conversations tests/usage tests/prompts tests/hardening tests/config/auth tests/test_i18n.py \
	tests/config/dynamodb/test_transactions.py

test: $(VENV)/.installed $(CATALOGS)
	$(PY) -m ruff check .
	$(PY) -m pytest
	CHAT_TEST_LAYER=redis $(PY) -m pytest -q -m consumer
	CHAT_TEST_DYNAMODB=standin $(PY) -m pytest -q -m "not server and not browser" $(STANDIN_TESTS)

test-redis: $(VENV)/.installed $(CATALOGS)
	CHAT_TEST_LAYER=redis $(PY) -m pytest -q -m consumer

test-standin: $(VENV)/.installed $(CATALOGS)
	CHAT_TEST_DYNAMODB=standin $(PY) -m pytest -q -m "not server and not browser" $(STANDIN_TESTS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .

bench: $(VENV)/.installed
	$(PY) -m benchmarks.run
