# Learning Mechanics Lab: `make run` serves the app, `make test` runs the whole suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test lint warm bench clean-cache install dev

$(BIN)/.runtime: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(BIN)/.dev: requirements-dev.txt requirements.txt $(BIN)/.runtime
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(BIN)/.runtime
dev: $(BIN)/.dev

run: $(BIN)/.runtime
	$(BIN)/streamlit run app.py --server.port $(PORT)

lint: $(BIN)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint Dockerfile

test: $(BIN)/.dev lint
	$(BIN)/python -m pytest -q

warm: $(BIN)/.runtime
	$(BIN)/python -m engine warm

bench: $(BIN)/.dev
	$(BIN)/pip install -q -r requirements-bench.txt
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean-cache:
	rm -rf cache/results cache/jax_compile
