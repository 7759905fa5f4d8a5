# durable-azure developer commands. `make test` works on a fresh clone with python3 >= 3.10, node >= 20, npm.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
LINT_PATHS := durable_azure tests bench

.PHONY: venv azurite chromium test lint demo stop clean

venv: $(STAMP)

# Re-run pip only when pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# The pinned Azurite is installed even when another Azurite already answers on the default ports:
# the fault tests (tests/integration/private_azurite.py) start a private one from this install.
AZURITE_BIN := azurite-setup/node_modules/.bin/azurite

$(AZURITE_BIN): azurite-setup/package-lock.json
	cd azurite-setup && npm ci --no-audit --no-fund
	@touch $(AZURITE_BIN)

azurite: $(AZURITE_BIN)
	azurite-setup/start

# Debian's headless Chromium for tests/e2e/test_timeline_chromium.py and the dashboard's browser tests
# (tests/e2e/test_dashboard_browser.py: Playwright drives it through executable_path, never a download).
# Installs only if /usr/bin/chromium is absent: apt-get as root, else through `sudo -n`, non-interactively. If that fails, the e2e test is
# reported as skipped (pytest -ra prints why) rather than failing the whole run.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	    if [ "$$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo -n"; fi; \
	    { $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	      $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
	    || echo "WARNING: could not install chromium; the headless-browser test will be skipped" >&2; \
	fi

test: venv azurite chromium
	$(VPY) -m pytest -q $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy durable_azure
	$(VENV)/bin/lint-imports --no-cache

demo: venv azurite
	$(VPY) -m durable_azure.cli.demo

stop:
	azurite-setup/stop

# Build and tool caches only. The venv, azurite-setup/node_modules and Azurite's data (.azurite/) stay;
# for a clean slate: `make stop && rm -rf .venv .azurite azurite-setup/node_modules`.
clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
	find . -path ./$(VENV) -prune -o -path ./azurite-setup/node_modules -prune -o \
	    -type d -name __pycache__ -print0 | xargs -0 rm -rf
