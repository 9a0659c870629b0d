# One command each: `make quick` (set up + quick-scale reproduction), `make test` (set up + tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Read MNIST from an existing torchvision root instead of downloading it. Defaults to the offline
# copy beside the checkout when there is one; `make quick TORCHVISION_ROOT=` downloads instead.
TORCHVISION_ROOT ?= $(if $(wildcard ../shared/datasets/mnist-offline/MNIST/raw),../shared/datasets/mnist-offline,)
# CIFAR-10 is read from the same root; an offline root without it (as ../shared's, MNIST only)
# gets the synthetic CIFAR-shaped stand-in instead, which every caption then names.
NO_CIFAR10 := $(if $(TORCHVISION_ROOT),$(if $(wildcard $(TORCHVISION_ROOT)/cifar-10-batches-py),,yes),)
# PAPERS=shaham2015 (or a comma-separated list) runs those papers only; default: every paper.
PAPERS ?=
CONFIG := $(if $(TORCHVISION_ROOT),torchvision_root=$(TORCHVISION_ROOT) $(if $(NO_CIFAR10),synthetic_cifar10=True,),) $(if $(PAPERS),papers=[$(PAPERS)],)
DATA := $(if $(strip $(CONFIG)),--config $(CONFIG),)

.PHONY: setup quick smoke paper test benchmark report clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps torchattacks  # the FGSM benchmark's baseline only
	touch $@

setup: $(VENV)/.installed

quick: setup  ## the main job: quick-scale reproduction on the local executor
	$(if $(NO_CIFAR10),@echo "note: no CIFAR-10 under $(TORCHVISION_ROOT): its tables use the synthetic stand-in (named as such in the report)",)
	$(BIN)/snakemake --configfile config/scales/quick.yaml $(DATA)

smoke: setup  ## every rule, tiny sizes
	$(BIN)/snakemake --configfile config/scales/smoke.yaml $(DATA)

paper: setup  ## paper scale (use a GPU cluster: add --profile profiles/slurm)
	$(BIN)/snakemake $(DATA)

test: setup  ## unit tests + a whole smoke-scale workflow run
	$(BIN)/python -m pytest

benchmark: setup  ## the benchmarks at quick scale (results in results/benchmarks/ and the report)
	$(BIN)/snakemake benchmarks --configfile config/scales/quick.yaml $(DATA)

report: setup  ## Snakemake's native report of the last run, grouped by paper
	$(BIN)/snakemake --configfile config/scales/quick.yaml $(DATA) --report results/snakemake-report.html

clean:
	rm -rf results .snakemake
