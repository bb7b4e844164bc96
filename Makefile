# Two commands for a newcomer: `make demo` and `make test`. Both install .venv first,
# exactly from uv.lock (uv itself is pinned and installed from PyPI into .tools/):
# `make demo` the runtime only, `make test` the runtime plus the test groups.
PYTHON ?= python3
UV_VERSION := 0.13.8
# Not in uv.lock (see `export-libs`); lhotse 1.33 and torchcodec 0.13 load with it.
TORCH_VERSION := 2.13.0
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
UV := $(TOOLS)/bin/uv
WHEELS := $(TOOLS)/wheels
# One stamp per install: both syncs are --inexact, so `make demo` after `make test` keeps
# the test tools (and torch), and `make test` after `make demo` only adds them.
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test export-libs lock demo test lint unit integration e2e bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --frozen: install exactly what uv.lock says, never re-resolve.
# --compile-bytecode: write every package's .pyc now. Without it, a machine that sets
# PYTHONDONTWRITEBYTECODE (as CI and many containers do) recompiles Prefect, pandas and the
# rest in every process: each flow run a worker starts paid ~10 s of CPU instead of ~4 s.
# --no-dev: the runtime and its extras (`query`: DuckDB, which the demo's closing lines and
# `export` use); none of the dependency groups.
$(RUNTIME_STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --no-dev --all-extras --compile-bytecode --inexact --python $(PYTHON)
	touch $@

# The runtime plus every dependency group: `dev` (pytest, ruff, mypy, moto, PyAV, ...) and
# `export-tests` (lhotse, datasets, torchcodec; torch is `export-libs`).
$(TEST_STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-groups --all-extras --compile-bytecode --inexact --python $(PYTHON)
	touch $@

install: $(RUNTIME_STAMP)

install-test: $(TEST_STAMP)

# torch, which lhotse and torchcodec import, is kept out of uv.lock: on Linux a plain
# `torch` from PyPI is the multi-GB CUDA build. This installs the CPU build of
# TORCH_VERSION into .venv beside the lock. pip downloads it through its own configuration:
# a local wheel directory (PIP_FIND_LINKS), or the PyTorch CPU index:
#   PIP_INDEX_URL=https://download.pytorch.org/whl/cpu make export-libs
# On Linux it asks for the `+cpu` build, so it fails fast instead of fetching CUDA; on macOS
# PyPI's torch is the CPU build (plain `make export-libs`). Its dependencies come from PyPI,
# held to uv.lock's versions where the lock has them. `--no-config`: pyproject.toml's
# `exclude-dependencies = ["torch"]` applies to `uv pip` too, which would skip it silently.
# Without torch the export tests skip, each with one line saying what to install.
export-libs: $(TEST_STAMP)
	@set -e; py=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	build=$(TORCH_VERSION); [ "$$(uname -s)" = Linux ] && build=$(TORCH_VERSION)+cpu; \
	echo "torch $$build for Python $$py"; \
	$(TOOLS)/bin/python -m pip download --quiet --disable-pip-version-check --no-deps \
		--only-binary=:all: --python-version $$py -d $(WHEELS)/py$$py torch==$$build \
		|| { echo "no torch $$build wheel: point pip at one, e.g." \
			"PIP_INDEX_URL=https://download.pytorch.org/whl/cpu make export-libs" >&2; exit 1; }; \
	$(UV) export --frozen --all-groups --all-extras --no-emit-project --no-hashes --quiet \
		-o $(WHEELS)/lock-constraints.txt; \
	$(UV) pip install --no-config --python $(BIN)/python \
		--constraint $(WHEELS)/lock-constraints.txt $(WHEELS)/py$$py/torch-$$build-*.whl

# Re-resolve every dependency to the newest versions pyproject.toml allows.
lock: $(UV)
	$(UV) lock --upgrade --python $(PYTHON)

demo: $(RUNTIME_STAMP)
	$(BIN)/meetstream-catalog demo

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

integration: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

e2e: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

bench: $(TEST_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) data .pytest_cache .mypy_cache .ruff_cache
