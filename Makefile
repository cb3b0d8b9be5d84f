# Prompt Workbench: `make run` sets everything up and opens the demo; `make test` runs every test.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: setup run test bench clean

setup: $(VENV)/.installed

# torch==2.13.0 (a CPU build) goes in first: any other torch would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: setup
	$(BIN)/workbench init --demo
	WORKBENCH_DEMO=1 $(BIN)/workbench serve --port $(PORT)

test: setup
	VENV=$(VENV) scripts/test.sh

clean:
	rm -rf $(VENV) workbench_data
