# One entry point for routine tasks. `make run` and `make test` set everything up first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: setup run test test-fast lint format bench bench-medium bench-full build browser clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Python and npm dependencies, pinned (requirements*.txt, package-lock.json).
$(VENV)/.installed: requirements.txt requirements-dev.txt $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

setup: $(VENV)/.installed node_modules/.installed build

# The editor bundle and htmx, copied into frontend/static/frontend/.
build: node_modules/.installed
	npm run build

# The app on SQLite and the in-memory channel layer, at http://127.0.0.1:$(PORT)/.
# Daphne's frame limit is twice the app's (16 MiB): a frame in between gets the app's
# close 4413, which the page shows, instead of Daphne's 1009, which clients retry forever.
run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -m daphne -b 127.0.0.1 -p $(PORT) --websocket-max-message-size 33554432 --websocket-max-frame-size 33554432 --ping-interval $${COLLAB_PING_INTERVAL:-15} --ping-timeout $${COLLAB_PING_TIMEOUT:-20} config.asgi:application

# The whole suite. Uses DATABASE_URL / REDIS_URL when set (CI sets both).
test: setup browser
	$(BIN)/pytest -n auto

test-fast: setup
	$(BIN)/pytest -n auto -m "not live and not browser"

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Ours vs its peers (bench/harness.py): a few minutes; bench-full runs every size. Results in
# bench/results/, tables and plot in docs/benchmarks.md and docs/bench/.
bench: setup
	sh bench/peers.sh
	$(BIN)/python bench/harness.py --profile short

# Every size the issue asks for, shorter windows, fewer peers (~35 min on 2 cores).
bench-medium: setup
	sh bench/peers.sh
	$(BIN)/python bench/harness.py --profile medium

bench-full: setup
	sh bench/peers.sh
	$(BIN)/python bench/harness.py --profile full

# Debian's Chromium for browser tests (a test tool's own download cannot work here).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium; \
	  elif sudo -n true 2>/dev/null; then sudo apt-get install -y -q chromium; \
	  else echo "chromium missing and no root: browser tests will be skipped (CI fails instead)"; fi; }

clean:
	rm -rf $(VENV) node_modules frontend/static/frontend/editor.js frontend/static/frontend/htmx.min.js
