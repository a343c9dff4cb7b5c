# The README's two set-up commands on a fresh machine:
#   make run   — create .venv, install, build the default model bundle if missing, serve it
#   make test  — create .venv, install, run the whole test suite
# and the inner loop while changing code:
#   make test-fast — the unit tests only (tests/unit, no slow marks), quiet, stopping at the
#                    first failure (seconds)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
EXTRAS ?= cpu,train,dev,loadtest,experiment,copy

DATA_DIR ?= data/synth-default
RUN_DIR  ?= runs/default
BUNDLE   ?= models/default
# the default model's recipe (README, "Synthetic logs"): text only, topic clusters, the
# context in wide pair biases and an ad × context term instead of the MLP
DEFAULT_MODEL ?= --no-ad-prior --head 'clusters=[16,256]' --second-stage-lr 5e-4 \
                 --head context_mlp=false --head context_cross=true --head ad_context_dim=4

.PHONY: run test test-fast install bundle lint typecheck clean-bundle

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python (the `copy` extra) compiles llama.cpp at install: for x86-64 with AVX2, not
# for the building CPU (-march=native), whose build can use instructions that a virtual
# machine's CPU lists but does not allow (the copy tests died of SIGILL on such a machine)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

$(VENV)/.installed-$(EXTRAS): pyproject.toml | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

# The default model: synthetic logs → fast training → evaluation → verified bundle (cached).
$(BUNDLE)/manifest.json: | install
	$(BIN)/adrank synth --out $(DATA_DIR)
	$(BIN)/adrank train --data $(DATA_DIR) --out $(RUN_DIR) $(DEFAULT_MODEL)
	$(BIN)/adrank evaluate $(RUN_DIR) --data $(DATA_DIR)
	$(BIN)/adrank export $(RUN_DIR) --out $(BUNDLE) --data $(DATA_DIR) --int8

bundle: $(BUNDLE)/manifest.json

run: install $(BUNDLE)/manifest.json
	$(BIN)/adrank serve --bundle $(BUNDLE)

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest tests/unit -q -x -m "not slow"

lint: install
	$(BIN)/ruff check adrank service model_export tests loadtests

typecheck: install
	$(BIN)/mypy adrank service model_export

clean-bundle:
	rm -rf $(DATA_DIR) $(RUN_DIR) $(BUNDLE)
