# One command each: `make quick` (set up + quick-scale reproduction), `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Read MNIST from an existing torchvision root instead of downloading it. Defaults to the offline
# copy beside the checkout when there is one; `make quick TORCHVISION_ROOT=` downloads instead.
TORCHVISION_ROOT ?= $(if $(wildcard ../shared/datasets/mnist-offline/MNIST/raw),../shared/datasets/mnist-offline,)
DATA := $(if $(TORCHVISION_ROOT),--config torchvision_root=$(TORCHVISION_ROOT),)

.PHONY: setup quick smoke paper test benchmark report clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

quick: setup  ## the main job: quick-scale reproduction on the local executor
	$(BIN)/snakemake --configfile config/scales/quick.yaml $(DATA)

smoke: setup  ## every rule, tiny sizes
	$(BIN)/snakemake --configfile config/scales/smoke.yaml $(DATA)

paper: setup  ## paper scale (use a GPU cluster: add --profile profiles/slurm)
	$(BIN)/snakemake $(DATA)

test: setup  ## unit tests + a whole smoke-scale workflow run
	$(BIN)/python -m pytest

benchmark: setup  ## the line-search benchmark at quick scale (result in results/benchmarks/)
	$(BIN)/snakemake --configfile config/scales/quick.yaml $(DATA) results/benchmarks/line_search.json

report: setup  ## Snakemake's native report of the last run, grouped by paper
	$(BIN)/snakemake --configfile config/scales/quick.yaml $(DATA) --report results/snakemake-report.html

clean:
	rm -rf results .snakemake
