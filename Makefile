# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test fuzz lint check-types check-imports unit webhook emulator db-upgrade clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

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

test: lint check-types check-imports
	$(BIN)/pytest -q

# The fuzz suite at full size: at least FUZZ_UPDATES (100,000) generated updates through the
# service; prints updates processed, updates/s and distinct steps reached (`make test` runs 2,000).
FUZZ_UPDATES ?= 100000
fuzz: $(BIN)/.installed
	FUZZ_UPDATES=$(FUZZ_UPDATES) $(BIN)/pytest -q -s -p no:cacheprovider tests/fuzz

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
