# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export FLASK_APP := wsgi.py

.PHONY: run test lint format translations compile-translations install e2e bench bench-pg clean

$(BIN)/.installed: requirements.txt requirements-dev.txt requirements-s3.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

compile-translations: install
	$(BIN)/pybabel compile -d translations

## run: set up, migrate the SQLite database, load the demo city, serve on 127.0.0.1:5000
run: compile-translations
	PORTAL_ENV=development $(BIN)/flask db upgrade
	PORTAL_ENV=development $(BIN)/flask portal demo
	@echo "Serving on http://127.0.0.1:5000  (Ctrl-C to stop)"
	PORTAL_ENV=development $(BIN)/flask run --host 127.0.0.1 --port 5000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# pytest exits 5 when it collects nothing; that is not a failure of the code.
PYTEST = $(BIN)/python -m pytest -n 2 -q --ignore=tests/e2e $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then rc=0; fi; exit $$rc

## test: lint, then the suite on SQLite, then again on PostgreSQL if TEST_DATABASE_URL is set
test: lint compile-translations
	env -u TEST_DATABASE_URL sh -c '$(PYTEST)'
	if [ -n "$$TEST_DATABASE_URL" ]; then sh -c '$(PYTEST)'; fi

## e2e: browser journeys in headless Chromium (Debian's chromium package; no download)
e2e: compile-translations
	$(BIN)/python -m pytest -q tests/e2e $(PYTEST_ARGS)

## translations: extract messages and update both catalogues (then translate, then commit)
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output --omit-header --no-wrap -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete --no-wrap
	$(BIN)/python translations/fill_english.py
	$(BIN)/pybabel compile -d translations

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

## bench: benchmarks, each figure printed beside its target (SQLite; BENCH_DATABASE_URL for PostgreSQL)
bench: compile-translations
	$(BIN)/python -m bench.bench_foundation
	$(BIN)/python -m bench.bench_waitlist
	$(BIN)/python -m bench.bench_lottery
	$(BIN)/python -m bench.bench_credit
	$(BIN)/python -m bench.bench_subsidy

## bench-pg: the same benchmarks on the local PostgreSQL (database "test")
bench-pg:
	BENCH_DATABASE_URL=$${BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} $(MAKE) bench
