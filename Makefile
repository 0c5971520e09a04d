# Everything runs inside .venv, created on first use from a plain Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install test book clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

# pytest over src (doctests) and tests, nbval over the notebooks, then the book with warnings as errors.
test: $(INSTALLED)
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest --nbval-lax notebooks
	$(BIN)/jupyter-book build . --warningiserror --keep-going

book: $(INSTALLED)
	$(BIN)/jupyter-book build .

clean:
	rm -rf _build
