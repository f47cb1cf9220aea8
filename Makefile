PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JAX_STAMP := $(VENV)/.installed-jax
DOCS_STAMP := $(VENV)/.installed-docs
export KERAS_BACKEND ?= tensorflow
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-jax lint docs bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## demo: set up .venv and run the main job (a real size-aware regularizer search on digits)
demo: $(STAMP)
	$(BIN)/regsearch demo $(ARGS)

# one pytest process per core, at most 4 (each imports TensorFlow and trains small models)
PARALLEL := -n auto --maxprocesses 4

## test: set up .venv and run the whole test suite
test: $(STAMP)
	$(BIN)/python -m pytest -q $(PARALLEL) $(ARGS)

$(JAX_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,jax]"
	touch $(JAX_STAMP)

## test-jax: the fast tests (not marked slow) and the TF<->JAX .keras test on KERAS_BACKEND=jax
test-jax: $(JAX_STAMP)
	KERAS_BACKEND=jax $(BIN)/python -m pytest -q $(PARALLEL) -m "not slow or cross_backend" $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check regsearch tests benchmarks
	$(BIN)/ruff format --check regsearch tests benchmarks
	$(BIN)/mypy

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,docs]"
	touch $(DOCS_STAMP)

## docs: build the documentation site into site/ (strict: a broken reference or link fails)
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build site .cache *.egg-info .pytest_cache .mypy_cache .ruff_cache
