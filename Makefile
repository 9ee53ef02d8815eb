# The two commands a newcomer needs: `make up` (run MSPclaw) and `make test` (run the tests).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up demo test test-fast lint eval install clean

$(STAMP): pyproject.toml agent/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ./agent -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start MSPclaw on the embedded database; prints the console URL and first admin's credentials.
up: $(STAMP)
	$(BIN)/mspclaw up

## The same, plus a ConnectWise simulator, a demo client, a local agent and tickets arriving over the
## first minute: watch them at /tickets, approve the waiting step at /approvals, read the note written back.
demo: $(STAMP)
	$(BIN)/mspclaw up --demo

## Install everything and run the whole test suite (starts its own PostgreSQL).
test: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/pytest tests agent/tests -m "not slow"
	# the 10,000-ticket fault tests race a live update stream; one re-run of a failure is allowed
	$(BIN)/pytest tests agent/tests -m slow || $(BIN)/pytest tests agent/tests -m slow --last-failed

## Lint and type-check.
lint: $(STAMP)
	$(BIN)/ruff check src tests agent bench
	$(BIN)/mypy src

## Full evaluation runs on the shared datasets (minutes).
eval: $(STAMP)
	$(BIN)/mspclaw eval intent --dataset endava
	$(BIN)/mspclaw eval routing --dataset gl-assignment
	$(BIN)/mspclaw eval alerts --dataset ait
	$(BIN)/mspclaw eval intent --dataset seed

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
