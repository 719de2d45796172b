# Each target sets itself up from nothing: a virtual env in .venv, the CPU wheel of torch, the package.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo setup clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev,h5,faiss]"
	touch $(STAMP)

setup: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

# MVLT end to end on the synthetic catalog (CPU, under 10 minutes on 2 cores): outputs/demo/
demo: $(STAMP)
	$(PY) scripts/demo.py --output_dir outputs/demo

clean:
	rm -rf $(VENV) outputs
