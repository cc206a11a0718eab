# Set-up, tests, demo and benchmarks. `make demo` and `make test` are the two commands of the README.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the design needs: fluidsynth + a GM soundfont (synthetic corpus), ffmpeg
# (stempeg, used by musdb and museval), libsox-dev (scaper's soxbindings build).
# chromium renders the HTML reports in the tests.
DEBS := fluidsynth fluid-soundfont-gm ffmpeg libsox-dev chromium
STAMP := $(VENV)/.installed

.PHONY: setup debs test lint demo bench models clean

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

# The default models shipped in vcsep/models/: a detector and a separator trained on a seeded
# synthetic corpus (32 pieces of 30 s, seed 1), then scored on its held-out test pieces. About 70
# minutes on 2 CPU cores (detector 22, separator 42); on a GPU the train line picks it up itself.
BUILD := build/models
models: setup
	$(BIN)/vcsep synth --out $(BUILD)/corpus --pieces 32 --seed 1 --max-seconds 30 --jobs 2 --overwrite
	$(BIN)/vcsep train-detector --corpus $(BUILD)/corpus --out $(BUILD)/detector --epochs 45 \
	  --width 0.125 --seed 0 --workers 1
	rm -rf $(BUILD)/separator  # a run folder that exists would be resumed
	$(BIN)/vcsep train fit --config configs/base.yaml --config configs/models/separator.yaml \
	  --trainer.enable_progress_bar false
	$(BIN)/vcsep evaluate $(BUILD)/separator/separator.pt --data urmp:$(BUILD)/corpus --split test \
	  --out $(BUILD)/evaluation
	mkdir -p vcsep/models
	cp $(BUILD)/separator/separator.pt $(BUILD)/detector/detector.pt $(BUILD)/corpus/corpus.json vcsep/models/
	cp $(BUILD)/detector/metrics.json vcsep/models/detector_metrics.json
	cp $(BUILD)/evaluation/aggregate.json vcsep/models/separator_metrics.json

clean:
	rm -rf $(VENV) demo_out build .pytest_cache .ruff_cache
