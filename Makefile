# Two entry points do all the set-up: `make dist` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The install is redone only when what it installs changes (dependencies, entry points, build settings),
# not on every edit of pyproject.toml (a version bump needs no download): the stamp is named after a
# hash of those tables.
DEPS   := $(shell $(PYTHON) tools/install_key.py pyproject.toml)
STAMP  := $(VENV)/.installed-$(DEPS)

# The reference JSONata implementation for the state machine tests (tests/eventbridge/test_state_machine.py),
# installed from the lock file the project owns, never at test time; without npm those tests skip with the reason.
NODE_DEPS := tests/node/node_modules/.package-lock.json

.PHONY: dist test check lock bench clean

# The editable install puts the repository root on sys.path (cloudtrail_pack). sigma-cli finds plugins only
# in real folders of pySigma's namespace packages, so backends/ (sigma.backends.*, sigma.pipelines.*) goes on
# sys.path beside it, through a .pth file of its own.

$(STAMP):
	rm -f $(VENV)/.installed*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	$(BIN)/python -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "cloudtrail_pack_plugins.pth").write_text("$(CURDIR)/backends\n")'
	touch $(STAMP)

dist: $(STAMP)
	$(BIN)/python build.py build

$(NODE_DEPS): tests/node/package-lock.json
	if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/node --no-audit --no-fund --ignore-scripts; fi

test: $(STAMP) $(NODE_DEPS)
	$(PYTHON) tools/offline.py $(BIN)/python -m pytest -q -n auto --dist loadgroup

check: $(STAMP)
	$(BIN)/python build.py check

lock: $(STAMP)
	$(BIN)/python build.py lock

bench: $(STAMP)
	$(BIN)/python bench/build_bench.py
	$(BIN)/python bench/scan_bench.py

clean:
	rm -rf $(VENV) dist tests/node/node_modules
