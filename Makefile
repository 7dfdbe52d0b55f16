# The README's two commands. Both create .venv when it is missing (or older than the dependency
# files), install the pinned dependencies and the package, then run.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.dsah-installed

.PHONY: repro test clean-scratch

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e .
	touch $(STAMP)

repro: $(STAMP)
	PATH="$(BIN):$$PATH" dvc repro

test: $(STAMP)
	PATH="$(BIN):$$PATH" python -m pytest

clean-scratch:
	rm -rf .scratch
