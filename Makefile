# sightline — `make demo` runs the whole system, `make test` installs what tests need and runs them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
# System packages the tests use: SIPp (outside SIP peer), PostgreSQL (second database backend),
# Chromium (browser tests through Playwright, which drives this system browser).
APT_TEST := sip-tester postgresql chromium
# Benchmarks also run Kamailio as the reference SIP server.
APT_BENCH := $(APT_TEST) kamailio
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench lint typecheck pytest install system-deps bench-deps clean

install: $(STAMPS)/venv

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

system-deps: $(STAMPS)/apt-test
bench-deps: $(STAMPS)/apt-bench

$(STAMPS)/apt-%: Makefile
	@mkdir -p $(STAMPS)
	@pkgs="$(if $(filter bench,$*),$(APT_BENCH),$(APT_TEST))"; \
	if command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null; }; then \
		missing=$$(for p in $$pkgs; do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			echo "installing system packages: $$missing"; \
			$(SUDO) apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
		fi; \
	else \
		echo "WARNING: apt-get unavailable: not installing $$pkgs (tests that need them will skip and say so)"; \
	fi
	@touch $@

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

pytest: install system-deps
	$(BIN)/pytest -q -p no:cacheprovider

test: lint typecheck pytest

demo: install
	$(BIN)/sightline demo $(if $(CONFIG),--config $(CONFIG))

bench: install bench-deps
	$(BIN)/python benchmarks/sip_register.py
	$(BIN)/python benchmarks/devices_online.py --devices 10000

clean:
	rm -rf $(VENV) $(STAMPS) .mypy_cache .ruff_cache .pytest_cache .hypothesis
