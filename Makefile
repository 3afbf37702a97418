# Every target creates the virtual environment itself on a fresh machine.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: setup demo test test-all bench clean

$(STAMP): pyproject.toml constraints.txt setup.py itnet_neuro/sim/kernels/_neuron.pyx itnet_neuro/sim/kernels/_neuron_kernel.h \
		itnet_neuro/sim/kernels/_ops.pyx itnet_neuro/sim/kernels/_ops_kernel.h \
		itnet_neuro/sim/kernels/_clones.h
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[all]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/itnet-neuro demo

test: setup
	$(BIN)/python -m pytest -q

test-all: setup
	HYPOTHESIS_PROFILE=explore $(BIN)/python -m pytest -q -m 'slow or not slow' --slow  # --slow: nengo's pytest plugin skips slow tests without it

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache out
