# Two commands for a newcomer: `make demo` and `make test`. Both install .venv first,
# exactly from uv.lock (uv itself is pinned and installed from PyPI into .tools/).
PYTHON ?= python3
UV_VERSION := 0.13.8
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
UV := $(TOOLS)/bin/uv
STAMP := $(VENV)/.installed

.PHONY: install lock demo test lint unit integration e2e bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --frozen: install exactly what uv.lock says, never re-resolve.
# --compile-bytecode: write every package's .pyc now. Without it, a machine that sets
# PYTHONDONTWRITEBYTECODE (as CI and many containers do) recompiles Prefect, pandas and the
# rest in every process: each flow run a worker starts paid ~10 s of CPU instead of ~4 s.
$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode --python $(PYTHON)
	touch $(STAMP)

install: $(STAMP)

# Re-resolve every dependency to the newest versions pyproject.toml allows.
lock: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

demo: $(STAMP)
	$(BIN)/meetstream-catalog demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) data .pytest_cache .mypy_cache .ruff_cache
