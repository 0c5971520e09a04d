# Everything runs inside .venv, created on first use from a plain Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
# Tests, notebooks and the book read the datasets from here (never copied into the repository).
export PP_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: install lint unit test book data sweeps lock clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

# Lint and format check (ruff), the package's layers (import-linter's contract in pyproject.toml),
# the CI workflow checked by actionlint.
lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/actionlint .github/workflows/*.yml

# The inner loop: doctests and the tests not marked slow (no training, no book), in seconds.
unit: $(INSTALLED)
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

# Lint, the book with warnings as errors, nbval over the notebooks, then pytest over src (doctests)
# and tests, including the stored results' own check and the checks of the built book (a headless
# Chromium screenshot if chromium is there).
test: lint
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	$(BIN)/python -m pytest --nbval-lax notebooks
	PP_REQUIRE_BOOK=1 $(BIN)/python -m pytest -n 2

book: $(INSTALLED)
	$(BIN)/jupyter-book build .

# The two datasets the tests and sweeps read, into PP_DATA_DIR (each only if absent). FSDD's archive
# is checked against its pinned SHA-256; EmoDB publishes none: give EMODB_SHA256=<the SHA-256 of a
# copy you trust> (without it the download stops and says so).
data: $(INSTALLED)
	test -d "$(PP_DATA_DIR)/fsdd" || $(BIN)/python -m predefined_prototypes data download fsdd --to "$(PP_DATA_DIR)/fsdd"
	test -d "$(PP_DATA_DIR)/emodb" || $(BIN)/python -m predefined_prototypes data download emodb --to "$(PP_DATA_DIR)/emodb" $(if $(EMODB_SHA256),--sha256 $(EMODB_SHA256))

# The quick profile of every sweep (minutes on 2 cores); PROFILE=full for the real thing.
PROFILE ?= quick
WORKERS ?= 2
sweeps: $(INSTALLED)
	for sweep in $$($(BIN)/python -c 'from predefined_prototypes.storage.plans import SWEEP_ORDER; print(*SWEEP_ORDER)'); do \
	  $(BIN)/python -m predefined_prototypes sweep configs/$$sweep.yaml --profile $(PROFILE) --workers $(WORKERS) || exit 1; \
	done

# Rewrite the lock file from the environment that produced the stored results.
lock: $(INSTALLED)
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --all --exclude-editable | grep -v '^predefined-prototypes\|^pip=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf _build
