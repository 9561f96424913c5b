# Two commands on a fresh Debian 12 with Python 3.11: `make demo` and `make test`.
# Everything they need is installed here: Debian packages, the virtualenv, the Python packages.

SHELL := /bin/bash
# The distribution's interpreter first: sandbox workers run under unprivileged uids and must read
# the standard library, which an interpreter under a private home (pyenv in /root) does not allow.
PYTHON ?= $(shell test -x /usr/bin/python3.11 && echo /usr/bin/python3.11 || command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := .pluginops-system-deps
# command:package pairs the tests use; a command already on PATH is not installed again.
DEB_PACKAGES := git:git npm:npm promtool:prometheus amtool:prometheus-alertmanager \
	docker-compose:docker-compose chromium:chromium chromedriver:chromium-driver \
	victoria-metrics:victoria-metrics caddy:caddy

.PHONY: demo test lint typecheck unit generate bench soak system-deps venv lock clean

demo: system-deps venv
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# Two workers (these machines have two cores); a test file stays on one worker, so its
# module-scoped fixtures (a backfilled Prometheus, a built wheel) are made once. Files are handed
# out in collection order, the longest first (tests/conftest.py), not by their number of tests.
test: system-deps venv lint typecheck
	$(BIN)/pluginops generate --check
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy

generate: venv
	$(BIN)/pluginops generate

bench: venv
	@bash scripts/install-debs.sh ab:apache2-utils
	$(BIN)/python bench/preflight_bench.py
	$(BIN)/python bench/install_bench.py
	$(BIN)/python bench/executor_bench.py
	$(BIN)/python bench/nab_bench.py
	$(BIN)/python bench/openmetrics_bench.py
	$(BIN)/python bench/metrics_bench.py
	$(BIN)/python bench/fleet_bench.py
	$(BIN)/python bench/kpi_bench.py
	$(BIN)/python bench/evaluator_bench.py
	$(BIN)/python bench/evaluator_serve_bench.py
	$(BIN)/python bench/serve_bench.py

soak: venv
	$(BIN)/python bench/soak_bench.py --seconds 600

system-deps:
	@bash scripts/install-debs.sh $(DEB_PACKAGES)

venv: $(STAMP)

# constraints.txt pins every package to the versions the tests passed with (`make lock` refreshes it).
$(STAMP): pyproject.toml setup.py harness/pyproject.toml constraints.txt
	@bash scripts/install-debs.sh --python-venv "$(PYTHON)"
	@# a virtualenv made from another interpreter is made again
	@want=$$($(PYTHON) -c 'import sys; print(sys.base_prefix)'); \
	have=$$($(BIN)/python -c 'import sys; print(sys.base_prefix)' 2>/dev/null || true); \
	if [ "$$want" != "$$have" ]; then rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]' -e harness
	touch $(STAMP)

lock:
	@bash scripts/lock.sh "$(PYTHON)"

clean:
	rm -rf $(VENV) .pluginops .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info
