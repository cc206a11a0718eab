# Set-up, tests, demo and benchmarks. `make demo` and `make test` are the two commands of the README.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the design needs: fluidsynth + a GM soundfont (synthetic corpus), ffmpeg
# (stempeg, used by musdb and museval), libsox-dev (scaper's soxbindings build).
# chromium renders the HTML reports in the tests.
DEBS := fluidsynth fluid-soundfont-gm ffmpeg libsox-dev chromium
STAMP := $(VENV)/.installed

.PHONY: setup debs test lint demo bench clean

setup: debs $(STAMP)

debs:
	@missing=$$(for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done | xargs); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing Debian packages; run this line, then make again:"; \
	    echo "  sudo apt-get install -y $$missing"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

lint: setup
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest -q

demo: setup
	$(BIN)/vcsep demo --out demo_out

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache .ruff_cache
