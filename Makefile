# The one way to run things. `make test` works on a fresh machine: it creates the virtualenv, installs
# everything from this repo's files, builds the Lambda dependency bundles and runs the whole test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: venv test lint fmt bench demo soak fuzz lambda-deps clean

$(VENV)/.installed: requirements.txt requirements-dev.txt handlers/requirements.txt handlers/inventory_created/requirements.txt policy/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# Third-party runtime dependencies of the Lambda functions, built for the Lambda runtime and architecture
# (manylinux wheels, never this machine's), cached under build/. The Pulumi program builds them itself when
# missing; building here keeps the test run offline.
lambda-deps: venv
	$(PY) -m components.packaging --build-all

test: venv lambda-deps lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Python: ruff, and mypy over components/, handlers/ and __main__.py (pyproject.toml [tool.mypy]). The GitHub
# workflows: actionlint (syntax, expressions, action inputs, deprecated runtimes) and zizmor (security audit:
# unpinned actions, persisted credentials, permissions), --offline: no network here.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/actionlint
	$(VENV)/bin/zizmor --offline --quiet .github

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: venv
	$(PY) -m benchmarks

demo: venv lambda-deps
	$(PY) -m offline.demo $(DEMO_ARGS)

# The offline pipeline under a seeded mix of faults, then its end-state checks (exit 1 on a failed one).
# A benchmark of minutes, not part of `make test` or `make bench`: `make soak SOAK_ARGS="--images 500"`.
soak: venv lambda-deps
	$(PY) -m benchmarks.soak $(SOAK_ARGS)

# Coverage-guided fuzzing (atheris) of the event parsers and inventory readers, FUZZ_SECONDS per target;
# one target: `make fuzz FUZZ_TARGET=queue_message`. Not part of `make test`; exit 1 on a crash.
FUZZ_SECONDS ?= 60
FUZZ_TARGET ?=
fuzz: venv
	$(PY) -m pip install --quiet -r requirements-fuzz.txt
	$(PY) -m fuzz --seconds $(FUZZ_SECONDS) $(FUZZ_TARGET)

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache .mypy_cache
