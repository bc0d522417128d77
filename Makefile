# make run   - the demo, from a fresh clone: venv, locked requirements and the demo's, migrate, seed,
#              IdP + portal
# make test  - everything CI runs: ruff (with bandit rules), mypy, pytest (SQLite always;
#              PostgreSQL, Redis and the browser wherever they are available, required under CI=true)
# make lock  - the lock files (requirements*.txt, with hashes) again from their .in files

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run test lint browser-deps hsm-deps lock clean bench messages messages-check translations

# The catalogues (.po) are sources; their compiled .mo files are build output, made here.
CATALOGUES := $(foreach lang,es pt_BR,portal/translations/$(lang)/LC_MESSAGES/messages)
TRANSLATIONS := $(addsuffix .mo,$(CATALOGUES))

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The lock files pin every package with its hashes (make lock); pip refuses anything else. The demo's
# packages (its identity provider) go on top of the runtime's; the tests' include the demo's.
$(RUN_STAMP): requirements.txt requirements-demo.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt -r requirements-demo.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-demo.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt -r requirements-dev.txt
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP) translations
	PORTAL_DEMO=1 $(BIN)/python -m portal.demo.run

# Debian's chromium drives the browser tests (Playwright's own browser download is not used).
browser-deps:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's chromium for the browser tests..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium is not installed and cannot be installed here: browser tests will be skipped"; fi

# Debian's SoftHSM2 stands in for an HSM in the tests of the PKCS#11 key store.
hsm-deps:
	@if [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's softhsm2 for the PKCS#11 key-store tests..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2 >/dev/null; \
	else echo "softhsm2 is not installed and cannot be installed here: PKCS#11 key-store tests will be skipped"; fi

lint: $(DEV_STAMP)
	$(BIN)/ruff check portal tests bench
	$(BIN)/mypy portal tests

# One test process per core (pytest-xdist); TEST_WORKERS=0 runs them all in this process. Bytecode
# is written even where the environment says not to (PYTHONDONTWRITEBYTECODE, as some images set):
# otherwise each of the run's processes (test workers, flask commands, Celery workers) would
# compile the portal and the tests again from source.
TEST_WORKERS ?= auto

test: $(DEV_STAMP) browser-deps hsm-deps translations
	@# ruff and mypy use one core: meanwhile a collection of the tests writes, on another, the bytecode
	@# the test processes then start from (the tests as pytest rewrites them, the portal).
	@PYTHONDONTWRITEBYTECODE= $(BIN)/pytest --collect-only -q >/dev/null 2>&1 & warm=$$!; \
	if $(MAKE) --no-print-directory lint; then wait $$warm || true; else kill $$warm 2>/dev/null; exit 1; fi
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(TEST_WORKERS)

bench: $(DEV_STAMP)
	$(BIN)/python bench/generate.py

# Each requirements*.txt is compiled from its .in by pip-tools (pinned in requirements-dev.in), with
# every distribution's hash. A version already locked stays as it is (the demo's and the tests' are
# held to the runtime's by -c): only what an .in file asks anew is resolved. To move one package on:
# make lock LOCK_ARGS="--upgrade-package NAME".
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

lock: $(DEV_STAMP)
	$(PIP_COMPILE) --output-file requirements.txt requirements.in
	$(PIP_COMPILE) --output-file requirements-demo.txt requirements-demo.in
	$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in

# Extract the user-facing strings (pages, e-mails, PDFs: all through Flask-Babel's gettext) and
# bring both catalogues up to date; new strings arrive untranslated (never guessed as fuzzy).
messages: $(RUN_STAMP)
	PYTHONPATH=. $(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
		--project "Privacy Portal" -o portal/translations/messages.pot .
	for lang in es pt_BR; do \
		$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations -l $$lang \
			--no-fuzzy-matching --ignore-obsolete --width 100 || exit 1; \
	done

# What is left to translate (untranslated, fuzzy, or with placeholders unlike its source): exit 1 if any.
messages-check: $(RUN_STAMP)
	$(BIN)/python -m portal.i18n.catalogues check

translations: $(TRANSLATIONS)

%.mo: %.po | $(RUN_STAMP)
	$(BIN)/python -m portal.i18n.catalogues compile

clean:
	rm -rf $(VENV) test-artifacts
