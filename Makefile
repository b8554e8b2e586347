# A newcomer's two commands: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench install docs

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/backburner demo

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest --chaos

# the site in docs/ (Sphinx + MyST): any warning, or a reference to nothing, fails it
docs: $(BIN)/.installed
	$(BIN)/sphinx-build -W --keep-going -n -b html docs docs/_build/html

bench: $(BIN)/.installed
	$(BIN)/python -m bench
