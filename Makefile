# One virtual environment at .venv serves every target; it is (re)built when a requirements file changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: setup web test lint typecheck unit demo dev bench train functions-venv clean

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt functions/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# firebase-tools (Auth emulator, `firebase deploy`), the Firebase JS SDK (rules tests, web app),
# Vite, TypeScript and playwright-core (the web app and its browser tests).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The clinician web app (web/): type-checked against the generated types, bundled into web/dist.
WEB_SOURCES := $(shell find web/src web/index.html web/vite.config.ts web/tsconfig.json -type f 2>/dev/null)
web/dist/index.html: $(NODE_STAMP) $(WEB_SOURCES)
	npm run --silent build:web

web: web/dist/index.html

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Everything CI runs: lint, types, and every test against the real local emulators.
test: setup web lint typecheck
	$(BIN)/pytest

demo: setup
	$(PY) -m scripts.demo

# Keep the local stack running and print its endpoints and the web app's URL (Ctrl-C stops it).
dev: setup web
	$(PY) -m scripts.stack

bench: setup web
	$(PY) bench/cold_start.py
	$(PY) bench/speed.py
	$(PY) bench/memory.py
	$(PY) bench/flac_savings.py --data ../shared/data
	$(PY) bench/eval_heart.py --data ../shared/data
	$(PY) bench/eval_lung.py --data ../shared/data
	$(PY) bench/pipeline_latency.py
	$(PY) bench/web_worklist.py

# Fit every shipped model from ../shared/data (patient-grouped folds; provenance in each file).
train: setup
	OMP_NUM_THREADS=1 $(PY) training/train_heart.py --data ../shared/data
	OMP_NUM_THREADS=1 $(PY) training/train_lung.py --data ../shared/data

# The venv the firebase CLI uses to discover and deploy the functions (path hard-coded by the CLI).
functions-venv:
	test -x functions/venv/bin/python || python3.11 -m venv functions/venv
	functions/venv/bin/pip install --quiet -r functions/requirements.txt

clean:
	rm -rf $(VENV) node_modules demo-output test-output web/dist .pytest_cache .mypy_cache .ruff_cache
