# Two commands set everything up on a fresh machine with python3 and make:
#   make train   create/refresh the virtualenv and train the default GAN on the offline digits data
#   make test    create/refresh the virtualenv, lint, and run the test suite
# VENV may live outside the clone (.ci/run keys it by a hash of the declared dependencies).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS_HASH := $(shell $(PYTHON) .ci/deps_hash.py deps)
PROJECT_HASH := $(shell $(PYTHON) .ci/deps_hash.py project)
DEPS_STAMP := $(VENV)/.ganforge-deps-$(DEPS_HASH)
PROJECT_STAMP := $(VENV)/.ganforge-project-$(PROJECT_HASH)
ARGS ?=
PYTEST_ARGS ?=
# pytest-xdist workers: two single-thread workers use a 2-core machine (tests/conftest.py pins one thread each);
# TEST_WORKERS=0 runs the suite in one process
TEST_WORKERS ?= 2

.PHONY: install train test lint tensorboard clean-venv

# Dependencies: installed once per dependency declaration (torch alone is several GB).
$(DEPS_STAMP):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $@

# The project itself, editable: cheap, redone when pyproject.toml or the checkout's location changes.
$(PROJECT_STAMP): $(DEPS_STAMP)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.ganforge-project-*
	touch $@

install: $(PROJECT_STAMP)

train: install
	$(VENV)/bin/ganforge-train $(ARGS)

lint: install
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

tensorboard: install
	$(VENV)/bin/tensorboard --logdir outputs --host localhost --port 6006

clean-venv:
	rm -rf .venv
