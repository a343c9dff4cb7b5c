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
# context in wide pair biases and an ad × context term instead of the MLP; after training,
# offsets per warm ad (shrunk towards what its words predict) and per cell of age band ×
# the ad's topic group and of device × slot
DEFAULT_MODEL ?= --no-ad-prior --head 'clusters=[16,256]' --second-stage-lr 5e-4 \
                 --head context_mlp=false --head context_cross=true --head ad_context_dim=4 \
                 --ad-offset-text-prior --cell-offsets age_band:topic device:slot
# distilled from a teacher (docs/model.md): on the synthetic logs the one shipped in
# teachers/synth-default, the mean logit of that recipe trained with seeds 0, 1 and 2
# (`make teacher` remakes it); on other logs none unless TEACHER names one made on them
TEACHER  ?= $(if $(filter data/synth-default,$(DATA_DIR)),teachers/synth-default)
DISTILL  := $(if $(TEACHER),--teacher $(TEACHER) --distill in_batch)

.PHONY: run test test-fast install bundle teacher lint typecheck clean-bundle

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

$(DATA_DIR)/impressions.jsonl: | install
	$(BIN)/adrank synth --out $(DATA_DIR)

# The default model: synthetic logs → fast training → evaluation → verified bundle (cached).
$(BUNDLE)/manifest.json: | install $(DATA_DIR)/impressions.jsonl
	$(BIN)/adrank train --data $(DATA_DIR) --out $(RUN_DIR) $(DEFAULT_MODEL) $(DISTILL)
	$(BIN)/adrank evaluate $(RUN_DIR) --data $(DATA_DIR)
	$(BIN)/adrank export $(RUN_DIR) --out $(BUNDLE) --data $(DATA_DIR) --int8

bundle: $(BUNDLE)/manifest.json

# The teacher: the default recipe trained with three seeds, and their mean logit labelling
# every training impression and an unshown pair for each (about 15 minutes here).
teacher: | install $(DATA_DIR)/impressions.jsonl
	@test -n "$(TEACHER)" || { echo "name the teacher's directory: make teacher TEACHER=DIR"; exit 2; }
	for s in 0 1 2; do $(BIN)/adrank train --data $(DATA_DIR) --out $(RUN_DIR)-member-s$$s \
	    --seed $$s $(DEFAULT_MODEL) || exit 1; done
	$(BIN)/adrank teacher --data $(DATA_DIR) --out $(TEACHER) --label-rows all \
	    --ensemble $(foreach s,0 1 2,$(RUN_DIR)-member-s$(s))

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
