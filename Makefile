# Two commands on a fresh machine (Python 3.11 and make):
#   make run    set up, migrate the embedded SQLite database and start the main job
#   make test   set up and run the whole suite: ruff, mypy, pytest (SQLite and PostgreSQL)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test processes (pytest-xdist): each has its own SQLite files and PostgreSQL database.
TEST_WORKERS ?= 2

.PHONY: setup browser run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Browser tests drive Debian's chromium through Playwright; nothing is downloaded at run time.
browser:
	@command -v chromium >/dev/null || apt-get install -y -q chromium >/dev/null \
		|| (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)

run: setup
	$(BIN)/session-engine serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint browser
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

bench: setup
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
