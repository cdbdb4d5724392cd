# unip-kfp developer tasks. `make demo` and `make test` are the README's quick start.
#
# Installs are reproducible: the venv gets exactly the versions pinned (with hashes) in
# constraints.txt, installed by uv. `make lock` regenerates that file from pyproject.toml's
# ranges; `make test-latest` runs the suite against the newest versions those ranges allow.
PYTHON     ?= python3
VENV       := .venv
BIN        := $(VENV)/bin
UV_VERSION := 0.13.9
UV         := $(VENV)/uv/bin/uv
STAMP      := $(VENV)/.installed
LOCK       := constraints.txt
LATEST     := .venv-latest


.PHONY: help install test-tools demo test lint bench golden schemas lock test-latest clean

help:
	@echo "make demo         install, then compile and run the example pipeline locally"
	@echo "make test         install, then lint, type-check and run the test suite"
	@echo "make bench        print the benchmark figures (bench/)"
	@echo "make golden       regenerate the golden files (tests/golden, components/; never in CI)"
	@echo "make schemas      regenerate the JSON Schemas in schemas/ from the models"
	@echo "make lock         re-pin every dependency in $(LOCK) from pyproject.toml's ranges"
	@echo "make test-latest  run the checks against the newest versions the ranges allow"

# uv lives inside the venv (its own folder), so nothing is installed outside the checkout.
$(UV):
	@echo "make: creating $(VENV) with uv $(UV_VERSION)"
	@$(PYTHON) -m venv --without-pip $(VENV)
	@$(PYTHON) -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
	  --target $(VENV)/uv uv==$(UV_VERSION)

$(STAMP): pyproject.toml $(LOCK) | $(UV)
	@echo "make: installing the pinned dependencies ($(LOCK)) and unip-kfp"
	@$(UV) pip install --quiet --python $(BIN)/python -r $(LOCK)
	@$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# Compile the example, then run that very package locally and show its metrics. The stages'
# `python3` is the venv's (it has scikit-learn), as it would be the image's in a cluster.
demo: install
	@cd examples/train-test && PATH="$(abspath $(BIN)):$$PATH" && \
	  ../../$(BIN)/unip-kfp compile manifests -o out/ && \
	  ../../$(BIN)/unip-kfp run out/my-pipeline.yaml \
	    -i xy_train=./data/xy_train.csv -i xy_test=./data/xy_test.csv \
	    -i extra_parameters=./data/extra_parameters.json \
	    -o testing_results=./results --force && \
	  echo "metrics: examples/train-test/results/metrics.csv" && cat results/metrics.csv

lint: install
	$(BIN)/ruff check unip_kfp tests bench examples
	$(BIN)/mypy

# Programs some tests run for real: Chromium and Graphviz (apt-get, when missing and root), and
# oauth2-proxy, built once with Go into a cache outside the checkout (~/.cache/unip-kfp-tests).
test-tools:
	@tests/tools/install_system_tools.sh
	@tests/tools/build_oauth2_proxy.sh >/dev/null

test: lint test-tools
	$(BIN)/python -m pytest -q -n auto

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Rewrites tests/golden/ and components/ from what the code compiles now; review the diff.
golden: install
	UNIP_KFP_REGENERATE_GOLDEN=1 $(BIN)/python -m pytest -q tests/test_golden.py \
	  tests/test_components_export.py tests/test_schema.py

# The JSON Schemas editors read, generated from the same models that validate.
schemas: install
	$(BIN)/unip-kfp schema --write schemas

lock: | $(UV)
	$(UV) pip compile pyproject.toml --extra test --extra example --universal \
	  --python-version 3.10 --generate-hashes --quiet --custom-compile-command "make lock" \
	  -o $(LOCK)

# A separate venv, resolved afresh from pyproject.toml's ranges (no lock): drift shows here
# the day a dependency releases, not when a user installs.
test-latest: test-tools | $(UV)
	@$(PYTHON) -m venv --without-pip --clear $(LATEST)
	@$(UV) pip install --quiet --refresh --python $(LATEST)/bin/python -e '.[test]'
	$(LATEST)/bin/ruff check unip_kfp tests bench examples
	$(LATEST)/bin/mypy
	$(LATEST)/bin/python -m pytest -q -n auto

clean:
	rm -rf $(VENV) $(LATEST) .unip-kfp examples/*/.unip-kfp
