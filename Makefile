# attunexr: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every transitive dependency of '.[dev]' pinned for Python 3.11 on Linux; pyproject.toml keeps open ranges.
LOCK := constraints.txt
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --extra dev --strip-extras --no-emit-index-url --no-emit-find-links \
	--no-emit-trusted-host --output-file $(LOCK) pyproject.toml

.PHONY: install demo test lint bench lock lock-upgrade clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK) tools/package.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	cd tools && npm install --no-audit --no-fund --silent
	touch $(STAMP)

demo: install
	$(BIN)/attunexr demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/features_vs_neurokit.py --json

# Refresh the lock after changing dependencies in pyproject.toml: keeps the existing pins, adds and drops what
# changed. `make lock-upgrade` moves every pin to the newest release instead. Run with Python 3.11 on Linux.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/pip-compile || $(BIN)/python -m pip install --quiet 'pip-tools>=7.4'
	$(PIP_COMPILE)

lock-upgrade:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/pip-compile || $(BIN)/python -m pip install --quiet 'pip-tools>=7.4'
	$(PIP_COMPILE) --upgrade

clean:
	rm -rf $(VENV) tools/node_modules .pytest_cache
