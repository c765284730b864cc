# hotline: `make demo` and `make test` are the whole quick start (README).
# `make bench BENCH_ARGS=--full` runs the issue-sized benchmarks (1,000,000 customers).
# The virtualenv is created once; it is reinstalled only when setup.cfg or pyproject.toml change.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hotline-installed
BUILD  := build

.PHONY: demo test bench lint clean

$(STAMP): setup.cfg pyproject.toml
	@sh .ci/ensure-venv "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install --disable-pip-version-check -q -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	@$(BIN)/python -m fsgen.demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m tests.bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check fsgen esl_app tests
	$(BIN)/mypy fsgen esl_app

clean:
	rm -rf $(BUILD) .pytest_cache
