# The common commands of the lab. `make help` lists them. The README's three commands are `make setup`,
# `make repro` and `make test`; CI (.ci/run) calls these targets.
# Another virtual environment: `make test VENV=/path/to/venv`.

VENV ?= .venv
PY := $(VENV)/bin/python
W2S_TEST_DATA_DIR ?= ../shared/datasets
REV ?= HEAD
# the two sides of `make compare`: a git revision, a `dvc exp` name or `workspace` (REV: the older spelling of A)
A ?= $(REV)
B ?= workspace
PIP_FLAGS ?=
export W2S_TEST_DATA_DIR

.PHONY: help setup repro test test-fast lint report compare docs-check bench-smoke

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

setup:  ## the README's set-up (scripts/setup.sh): the tests' system packages, .venv/, the offline model cache where the hub is unreachable
	VENV=$(VENV) PIP_FLAGS="$(PIP_FLAGS)" scripts/setup.sh

repro:  ## the main job: the whole pipeline on params.yaml (prints the PGR table at the end)
	. $(VENV)/bin/activate && dvc repro

test:  ## every test, integration tier included (W2S_TEST_DATA_DIR: the local dataset mirror)
	$(PY) -m pytest

test-fast:  ## the fast tier: unit tests and properties, no real model, no dvc run
	$(PY) -m pytest -m "not integration"

lint:  ## ruff and mypy, as CI runs them
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy w2s benchmarks

report:  ## the reports in data/reports/ (reruns what the report stage needs, nothing else)
	. $(VENV)/bin/activate && dvc repro report

compare:  ## params and metrics of A (default HEAD) vs B (default workspace), and the report data/compare/compare.html: make compare A=HEAD~1
	. $(VENV)/bin/activate && dvc params diff $(A) $(B) && dvc metrics diff $(A) $(B) --md \
		&& python -m w2s.compare $(A) $(B) --out data/compare

docs-check:  ## the links, stages, params keys and files that README and docs/ name exist
	$(PY) -m pytest tests/test_docs.py -q

bench-smoke:  ## the speed benchmark at tiny sizes (seconds; the real numbers: docs/performance.md; the integration tier runs it too)
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.bench --tiny --device cpu
