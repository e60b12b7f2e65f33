# sluice: the two commands a user needs are `make demo` and `make test`;
# both provision everything on a fresh machine first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export SLUICE_TOOLS_DIR ?= $(HOME)/.cache/sluice/tools
export KUBEBUILDER_ASSETS ?= $(SLUICE_TOOLS_DIR)/bin

.PHONY: setup tools test lint demo bench clean

$(BIN)/sluice: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(BIN)/sluice

setup: $(BIN)/sluice tools

tools:
	bash hack/system-packages.sh
	bash hack/tools.sh

test: setup
	$(BIN)/sluice check
	$(BIN)/pytest $(PYTEST_ARGS)

# Two local clusters, sluice, a Git repo; prints commit-to-applied, stops it all.
# More commits for figures: make demo DEMO_ARGS="--commits 10"
demo: setup
	$(BIN)/python hack/demo.py $(DEMO_ARGS)

# Benchmarks (each scenario starts and stops its own servers); prints a table and
# writes bench/results/latest.json. Smaller: make bench BENCH_ARGS="--quick --only latency"
# Flux beside sluice (builds Flux's controllers first): make bench BENCH_ARGS="--peer flux"
bench: setup
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: $(BIN)/sluice
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
