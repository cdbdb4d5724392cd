# unip-kfp developer tasks. `make demo` and `make test` are the README's quick start.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help install demo test lint bench golden clean

help:
	@echo "make demo    install, then compile and run the example pipeline locally"
	@echo "make test    install, then lint, type-check and run the test suite"
	@echo "make bench   print the benchmark figures (bench/)"
	@echo "make golden  regenerate the golden packages in tests/golden (never in CI)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Compile the example, then run that very package locally and show its metrics. The stages'
# `python3` is the venv's (it has scikit-learn), as it would be the image's in a cluster.
demo: install
	cd examples/train-test && PATH="$(abspath $(BIN)):$$PATH" && \
	  ../../$(BIN)/unip-kfp compile manifests -o out/ && \
	  ../../$(BIN)/unip-kfp run out/my-pipeline.yaml \
	    -i xy_train=./data/xy_train.csv -i xy_test=./data/xy_test.csv \
	    -i extra_parameters=./data/extra_parameters.json \
	    -o testing_results=./results --force && \
	  echo "metrics: examples/train-test/results/metrics.csv" && cat results/metrics.csv

lint: install
	$(BIN)/ruff check unip_kfp tests bench examples
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

golden: install
	UNIP_KFP_REGENERATE_GOLDEN=1 $(BIN)/python -m pytest -q tests/test_golden.py

clean:
	rm -rf $(VENV) .unip-kfp examples/*/.unip-kfp
