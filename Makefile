# Two commands set everything up on a fresh machine:
#   make run    venv + runtime packages + migrate + first admin, then web (ASGI: admin, REST, /mcp) + Celery worker + beat
#   make test   venv + runtime and test packages (pytest, playwright, schemathesis), then the whole test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PUBLIC_URL ?= http://127.0.0.1:8000
export PUBLIC_URL

# A Python >= 3.12: the first that answers among these (pyenv's shims need PYENV_VERSION).
PYTHON_CANDIDATES := python3.13 python3.12 python3 $(wildcard $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3) $(wildcard /root/.pyenv/versions/3.1[2-9]*/bin/python3) /usr/bin/python3
FIND_PYTHON = for p in $(PYTHON) $(PYTHON_CANDIDATES); do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then echo $$p; break; fi; \
	done

# pip shows each package it collects and installs (a minute or two on a fresh machine)
PIP_INSTALL = $(VENV)/bin/pip install --disable-pip-version-check --progress-bar on

# what running needs (make run)
$(VENV)/.installed: pyproject.toml
	@py=$$($(FIND_PYTHON)); \
	if [ -z "$$py" ]; then echo "error: Python >= 3.12 is needed (Django 6); none found among: $(PYTHON_CANDIDATES). Set PYTHON=/path/to/python3.12" >&2; exit 1; fi; \
	if [ ! -x $(VENV)/bin/python ] || ! $(VENV)/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
	  echo "==> Creating $(VENV) with $$py ($$($$py --version))"; rm -rf $(VENV); $$py -m venv $(VENV); fi
	@echo "==> Installing the runtime packages into $(VENV)"
	$(PIP_INSTALL) -e .
	@$(VENV)/bin/python -c 'import django, mcp, celery' # the install must have worked
	@touch $@

# and what the tests need besides (make test): pytest, playwright, schemathesis
$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	@echo "==> Installing the test packages into $(VENV)"
	$(PIP_INSTALL) -e '.[test]'
	@$(VENV)/bin/python -c 'import pytest, playwright, schemathesis' # the install must have worked
	@touch $@

.PHONY: help install install-test run test demo bench migrate
help:
	@echo "make run    start the app on $(PUBLIC_URL) (SQLite + embedded broker unless DATABASE_URL/REDIS_URL are set)"
	@echo "make test   run the test suite"
	@echo "make demo   load sample data (DEVICES=1000)"
	@echo "make bench  run the benchmarks (needs DATABASE_URL to PostgreSQL)"

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

migrate: install
	@echo "==> Migrating the database"
	$(VENV)/bin/python manage.py migrate --no-input

run: migrate
	$(VENV)/bin/python manage.py ensure_admin
	$(VENV)/bin/python manage.py serve

# two pytest-xdist workers, one test file each at a time (tests/isolation.py keeps them apart)
TEST_WORKERS ?= 2
test: install-test
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

DEVICES ?= 1000
demo: migrate
	$(VENV)/bin/python manage.py seed_demo --devices $(DEVICES)

bench: install-test
	$(VENV)/bin/python benchmarks/run.py
