# Two entry points for a newcomer: `make demo` (the core only: numpy, scipy, numba; no torch) and
# `make test` (every extra, torch included, then ruff and the whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CORE   := $(VENV)/.installed-core
ALL    := $(VENV)/.installed

.PHONY: setup demo test lint api-docs clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The core alone: what the demo needs (a `make test` install contains it, so it counts too).
$(CORE): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e .
	touch $(CORE)

# Everything the suite uses (the dev extra pulls in torch, cvxpy, networkx, pymanopt, ...).
$(ALL): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(ALL) $(CORE)

setup: $(ALL)

demo: $(CORE)
	$(BIN)/lowrank-sdp maxcut data/gset/G1.txt.gz

test: $(ALL)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

lint: $(ALL)
	$(BIN)/ruff check .

api-docs: $(ALL)
	$(BIN)/python scripts/api_docs.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info docs/api
