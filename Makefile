# The README's two commands are `make demo` and `make test`; everything else is here too.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov pins packaging < 24 and termcolor < 2.4, which pytest and cleanlab refuse:
# it gets a virtualenv of its own, used by tests/deploy.
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed

.PHONY: demo test venv tools lint bench docs drill clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

venv: $(STAMP)

$(TOOLS_STAMP): Makefile
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet 'checkov>=3.2,<4'
	touch $(TOOLS_STAMP)

## tools: the static-analysis tools that cannot share .venv (checkov).
tools: $(TOOLS_STAMP)

## demo: set up the embedded default (SQLite, local files) and run the main job.
demo: $(STAMP)
	$(VENV)/bin/garrison demo

## test: set up and run the whole suite, PostgreSQL and Redis backends included.
test: $(STAMP) $(TOOLS_STAMP)
	$(PY) -m pytest -n 2 --dist loadfile --timeout=600 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench deploy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	for script in bench/[!_]*.py; do $(PY) $$script || exit 1; done

## drill: three gateway replicas behind HAProxy under load: scale, kill, roll back.
drill: $(STAMP)
	$(PY) deploy/drill/run.py

docs: $(STAMP)
	$(PY) -m garrison.cli.docgen docs

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache build *.egg-info src/*.egg-info
