# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

# The pinned, hashed locks generated from pyproject.toml by `make lock`: the application's
# (requirements.lock, what `pip install .` needs) and the developers' (with the dev extras).
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
# `make lock` keeps the pinned versions where it can; `make lock UPGRADE=--upgrade` moves them on.
UPGRADE ?=
COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" --quiet $(UPGRADE)

.PHONY: run test fuzz bench bench-transports bench-broadcast bench-export bench-reminders bench-scale lint check-types check-imports webhook db-upgrade lock clean

$(BIN)/.installed: pyproject.toml $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# Regenerate both locks after changing the dependencies in pyproject.toml (uv is a dev extra).
lock: $(BIN)/.installed
	$(COMPILE) --output-file $(LOCK)
	$(COMPILE) --extra dev --constraint $(LOCK) --output-file $(DEV_LOCK)

# With a BOT_TOKEN (environment or .env) the real bot; without one, the local playground.
run: $(BIN)/.installed
	@if [ -n "$$BOT_TOKEN" ] || grep -qs '^BOT_TOKEN=.' .env; then \
		$(BIN)/peduli run; \
	else \
		echo "BOT_TOKEN is not set: starting the local playground (see README)."; \
		$(BIN)/peduli playground; \
	fi

webhook: $(BIN)/.installed
	$(BIN)/peduli webhook

db-upgrade: $(BIN)/.installed
	$(BIN)/peduli db upgrade

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check-types: $(BIN)/.installed
	$(BIN)/mypy

check-imports: $(BIN)/.installed
	$(BIN)/lint-imports

# The suite runs in TEST_WORKERS processes (pytest-xdist; `auto`: one per CPU, 2 on CI): every
# test has its own PostgreSQL schema, Redis key prefix and temporary folder (tests/conftest.py), so
# they do not see each other. worksteal: the few tests that start bot processes take 10-30 s each,
# and an idle worker takes queued tests from a busy one. TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= auto
test: lint check-types check-imports
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal

# The fuzz suite at full size: at least FUZZ_UPDATES (100,000) generated updates through the
# service; prints updates processed, updates/s and distinct steps reached (`make test` runs 2,000).
FUZZ_UPDATES ?= 100000
fuzz: $(BIN)/.installed
	FUZZ_UPDATES=$(FUZZ_UPDATES) $(BIN)/pytest -q -s -p no:cacheprovider tests/fuzz

# The benchmark (bench/, README "Performance"): the bot over webhook against a bare aiogram echo
# bot, round-robin; prints the table and writes bench/results/*.json. BENCH_ARGS for longer runs,
# e.g. make bench BENCH_ARGS="--rounds 5 --conversations 100".
BENCH_ARGS ?=
bench: $(BIN)/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# The transports (README "Performance"): the same conversation load over webhook through the bot
# on aiogram and on python-telegram-bot, both on PostgreSQL + Redis, each beside its framework's
# bare echo bot in the same run; prints updates/s and p50/p99 at 100 updates/s with their ratios
# to that echo. TRANSPORTS_ARGS for longer runs, e.g. TRANSPORTS_ARGS="--rounds 3".
TRANSPORTS_ARGS ?=
bench-transports: $(BIN)/.installed
	$(BIN)/python -m bench --configs echo,postgres,echo-ptb,postgres-ptb --paced 100 $(TRANSPORTS_ARGS)

# The broadcast benchmark (README "Broadcasts at Telegram's limit"): an announcement to 10,000
# people through the emulator at 30/s: plain, kill -9 and restart, two processes, paid mode.
BROADCAST_ARGS ?=
bench-broadcast: $(BIN)/.installed
	$(BIN)/python -m bench.broadcast $(BROADCAST_ARGS)

# The exports benchmark: 100,000 sponsorships in a temporary SQLite database; prints seconds, CPU
# seconds and peak RSS of `peduli export deductions` and `peduli export bpjs` (csv and xlsx), and
# checks each against the goal (< 10 s, < 200 MB).
BENCH_ROWS ?= 100000
bench-export: $(BIN)/.installed
	$(BIN)/python -m bench.export --rows $(BENCH_ROWS)

# The reminder scheduler: N sponsors in a temporary SQLite database; seconds of a round that
# queues every reminder, of a round with nothing new (each minute's cost), of the 7-day report.
BENCH_SPONSORS ?= 30000
bench-reminders: $(BIN)/.installed
	$(BIN)/python -m bench.reminders --sponsors $(BENCH_SPONSORS)

# Scale (README "Two processes and 6 million sponsorships"): two `peduli webhook` processes
# behind one webhook address against one process, on PostgreSQL + Redis (updates lost, handled
# twice, out of order; the updates/s ratio), then a PostgreSQL database of its own with
# SCALE_SPONSORSHIPS sponsorships (generated, measured, dropped): p50/p99 of the duplicate-NIK
# check, /status and per-agency statistics, with EXPLAIN ANALYZE of their statements. The 6 million
# take 15-40 minutes to generate on a 2-core machine; SCALE_SPONSORSHIPS=1000000 for a shorter run.
SCALE_SPONSORSHIPS ?= 6000000
SCALE_ARGS ?=
TWO_PROCESS_ARGS ?= --rounds 2 --conversations 32 --paced ""
bench-scale: $(BIN)/.installed
	$(BIN)/python -m bench --configs postgres,postgres2 $(TWO_PROCESS_ARGS)
	$(BIN)/python -m bench.scale all --sponsorships $(SCALE_SPONSORSHIPS) $(SCALE_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
