# sightline — `make demo` runs the whole system, `make test` installs what tests need and runs them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
# System packages the tests use: SIPp (outside SIP peer), PostgreSQL (second database backend),
# Chromium (browser tests through Playwright, which drives this system browser) and a CJK font
# (the console's Chinese text in browser tests and screenshots).
APT_test := sip-tester postgresql chromium fonts-wqy-microhei
# Benchmarks also run Kamailio as the reference SIP server, and the ffmpeg command line as the
# reference for masked re-encoding.
APT_bench := $(APT_test) kamailio ffmpeg
# The C compiler and Python headers for the optional C receive path (setup.py); without them
# pip installs the pure-Python path and says so.
APT_build := gcc libc6-dev python3-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench lint typecheck pytest install system-deps bench-deps clean console screenshots

install: $(STAMPS)/venv console

# The web console (Vue + Vite in console/) built into src/sightline/web/console/; rebuilt only
# when its sources, lock file or build settings change.
CONSOLE_OUT := src/sightline/web/console/index.html
CONSOLE_SRC := $(shell find console/src console/public -type f 2>/dev/null) \
	console/index.html console/package.json console/package-lock.json console/tsconfig.json \
	console/vite.config.ts

console: $(CONSOLE_OUT)

$(CONSOLE_OUT): $(CONSOLE_SRC)
	@command -v npm >/dev/null || { echo "npm is missing (Debian/Ubuntu: apt-get install nodejs npm)"; exit 1; }
	cd console && npm ci --no-audit --no-fund && npm run build
	@touch $@

# PNGs of the console's main pages for the README (starts sightline, a simulator and Chromium).
screenshots: install system-deps
	$(BIN)/python scripts/screenshots.py docs/screenshots

# setup.py builds the optional C hot paths (media/_fastrtp.c: RTP receive; sim/_fastsend.c: the
# simulator's RTP send) when a compiler is there.
$(STAMPS)/venv: pyproject.toml setup.py src/sightline/media/_fastrtp.c src/sightline/sim/_fastsend.c $(STAMPS)/apt-build
	@mkdir -p $(STAMPS)
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

system-deps: $(STAMPS)/apt-test
bench-deps: $(STAMPS)/apt-bench

$(STAMPS)/apt-%: Makefile
	@mkdir -p $(STAMPS)
	@pkgs="$(APT_$*)"; \
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
	$(BIN)/python benchmarks/devices_storm.py --devices 30000 --onboard --storms 2
	$(BIN)/python benchmarks/audit_rate.py
	$(BIN)/python benchmarks/masking.py
	$(BIN)/python benchmarks/audio_transcode.py
	$(BIN)/python benchmarks/recording.py --channels 200 --seconds 30
	$(BIN)/python benchmarks/permission_check.py
	$(BIN)/python benchmarks/db_under_load.py
	$(BIN)/python benchmarks/media_streams.py --streams 100,250,400,500
	$(BIN)/python benchmarks/media_serve.py --streams 100,250,400,500
	$(BIN)/python benchmarks/media_serve.py --streams 500 --workers 2
	$(BIN)/python benchmarks/sim_streams.py --streams 50,200

clean:
	rm -rf $(VENV) $(STAMPS) .mypy_cache .ruff_cache .pytest_cache .hypothesis src/sightline/media/_fastrtp*.so src/sightline/sim/_fastsend*.so build
