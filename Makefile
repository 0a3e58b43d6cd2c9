# attunexr: the two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml tools/package.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	cd tools && npm install --no-audit --no-fund --silent
	touch $(STAMP)

demo: install
	$(BIN)/attunexr demo

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/attunexr/recording src/attunexr/signals src/attunexr/features src/attunexr/errors.py

bench: install
	$(BIN)/python benchmarks/features_vs_neurokit.py --json

clean:
	rm -rf $(VENV) tools/node_modules .pytest_cache
