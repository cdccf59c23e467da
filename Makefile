# Two entry points do all the set-up: `make dist` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dist test check lock bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

dist: $(STAMP)
	$(BIN)/python build.py build

test: $(STAMP)
	$(BIN)/python -m pytest -q

check: $(STAMP)
	$(BIN)/python build.py check

lock: $(STAMP)
	$(BIN)/python build.py lock

bench: $(STAMP)
	$(BIN)/python bench/build_bench.py
	$(BIN)/python bench/scan_bench.py

clean:
	rm -rf $(VENV) dist
