# Every target builds what it needs from nothing: a fresh clone needs only python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(wildcard plugins/eemw-*) $(wildcard tests/plugins/fixtures/*/pyproject.toml)
PLUGIN_FILES := $(shell find plugins tests/plugins/fixtures -type f \( -name '*.py' -o -name 'pyproject.toml' -o -name 'py.typed' -o -name 'README.md' \) 2>/dev/null)

.PHONY: demo test lint typecheck unit bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The library in editable mode with its CLI extra and the dev dependency groups; the plugins as real,
# separately installed distributions so entry-point discovery reads real metadata.
$(VENV)/.installed: pyproject.toml $(PLUGIN_FILES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[cli]' --group dev
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

# The documentation site, built strictly: a broken link, a missing page or an undocumented
# public name fails the build.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -d site
	$(BIN)/python docs/check_reference.py site

clean:
	rm -rf $(VENV) .bench-venv .mypy_cache .ruff_cache site
