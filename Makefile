# The README's two commands. Both create .venv when it is missing (or older than the dependency
# files), install the pinned dependencies and the package, then run.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.dsah-installed

# The ImageNet MobileNetV2 converted from ../shared's TFLite file (the only pretrained weights offline).
TFLITE ?= ../shared/models/mobilenet_v2_1.0_224_quant.tflite
WEIGHTS ?= data/weights/mobilenet_v2.pth
CHECK_IMAGES ?= ../shared/data/flowers12/test

.PHONY: repro test test-fast plots clean-scratch weights

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[tflite]'
	touch $(STAMP)

repro: $(STAMP)
	PATH="$(BIN):$$PATH" dvc repro
	$(PY) -m dsah.cli.readme --only-profile full   # the README's results block, from metrics/

plots: $(STAMP)   # methods overlaid, one offline page: dvc_plots/index.html
	PATH="$(BIN):$$PATH" dvc plots show

test: $(STAMP)   # the whole suite: what CI runs
	PATH="$(BIN):$$PATH" python -m pytest

test-fast: $(STAMP)   # the inner loop: unit and contract tests, no subprocess runs, no notebooks
	PATH="$(BIN):$$PATH" python -m pytest -m "not slow" tests

weights: $(WEIGHTS)

$(WEIGHTS): $(STAMP)   # the converter names a missing TFLite file and where it should be
	$(PY) -m dsah.cli.import_tflite $(TFLITE) --out $(WEIGHTS) $(if $(wildcard $(CHECK_IMAGES)),--images $(CHECK_IMAGES))
	@echo "export DSAH_WEIGHTS_MOBILENET_V2=$(abspath $(WEIGHTS))"

clean-scratch:
	rm -rf .scratch
