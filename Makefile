# The two commands a user needs: `make run` and `make test`. Everything installs into .venv.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint typecheck bench bench-quick soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[sql,rabbitmq,kafka,dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/taskcore serve --host 127.0.0.1 --port 8080

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy --strict taskcore

test: lint typecheck
	$(BIN)/bandit -q -r taskcore taskcore_adapters taskcore_flask
	$(BIN)/python -m pytest

# The benchmark (not part of `make test`): its own dependencies, then bench/run.py.
BENCH_DEPS := $(VENV)/.bench-stamp

$(BENCH_DEPS): $(STAMP) bench/requirements.txt
	$(BIN)/python -m pip install --quiet -r bench/requirements.txt
	touch $(BENCH_DEPS)

bench: $(BENCH_DEPS)
	$(BIN)/python -m bench.run --profile full

bench-quick: $(BENCH_DEPS)
	$(BIN)/python -m bench.run --profile quick

# Soak: 100 connections for SOAK_MINUTES with failing callbacks; nothing lost, no 5xx, flat memory.
SOAK_MINUTES ?= 5
soak: $(BENCH_DEPS)
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES)

.PHONY: security
security: install
	$(BIN)/bandit -q -r taskcore taskcore_adapters taskcore_flask
	$(BIN)/pip-audit --skip-editable --progress-spinner off

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
