# data-extract: `make run` starts the local stack, `make test` runs the test suite.
# Both set up .venv (Python 3.13, the functions' Lambda runtime) on first use; nothing else needs installing by hand.

# The first Python 3.13 that runs: on PATH, or one that pyenv installed but has not put on PATH.
PYTHON      ?= $(shell for p in python3.13 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 2>/dev/null); do \
                 $$p -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV        := .venv
SAM_VENV    := .venv-sam
STAMP       := $(VENV)/.installed
SAM_STAMP   := $(SAM_VENV)/.installed
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k poller -x"`.
PYTEST_ARGS ?=
# pytest-xdist workers ("auto": one per core; 0 runs in this process). Whole files go to one worker, so a
# module's fixtures (the local stack of tests/integration) start once.
PYTEST_WORKERS ?= auto
# Extra stack arguments, e.g. `make run ARGS="--seed ../shared/corpus/pdf"`; for `make bench`, the extraction
# benchmark's.
ARGS        ?=
# Extra service benchmark arguments, e.g. `make bench SERVICE_BENCH_ARGS="--sections e2e --loops 1,2"`.
SERVICE_BENCH_ARGS ?= --write

# SAM CLI never phones home from here; the region only has to exist for validation.
SAM := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 $(SAM_VENV)/bin/sam

.DEFAULT_GOAL := help
.PHONY: help run test lint lint-template build bench ocr ocr-layer browser clean distclean

help:
	@echo "make run            start the local stack (moto + API on http://127.0.0.1:$${PORT:-8000}); ARGS=\"--seed DIR\""
	@echo "make test           run the whole test suite; PYTEST_ARGS=\"...\" for pytest, PYTEST_WORKERS=0 for one process"
	@echo "make lint           ruff (lint and format check) and mypy (strict on functions/data_extract)"
	@echo "make lint-template  sam validate --lint template.yaml (installs SAM CLI in $(SAM_VENV) once)"
	@echo "make build          sam build: the functions and their layers into .aws-sam/ (the Tesseract layer needs Docker)"
	@echo "make ocr-layer      build only the Tesseract layer (Amazon Linux 2023, in Docker) into build/tesseract-layer/"
	@echo "make bench          benchmarks: extraction (extract_bench.py), then the service end to end (service_bench.py)"
	@echo "make clean          remove build output and caches; make distclean also removes the venvs"

# The project venv, redone only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo >&2 "Python 3.13 not found: install it (e.g. pyenv install 3.13) or pass PYTHON=/path/to/python3.13"; exit 3; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[api,worker,semantic,dev,cli]"
	touch $@

# SAM CLI pins its own boto3/pydantic versions, so it lives in a venv of its own.
$(SAM_STAMP):
	@test -n "$(PYTHON)" || { echo >&2 "Python 3.13 not found: install it (e.g. pyenv install 3.13) or pass PYTHON=/path/to/python3.13"; exit 3; }
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli
	touch $@

# Tesseract reads image-only pages; its orientation data (osd) turns rotated pages upright first. Installed with
# apt-get when missing and we are root; otherwise the worker reports OCR as unavailable and such pages as needing OCR.
ocr:
	@if command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx osd; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Tesseract OCR with apt-get..."; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd >/dev/null; \
	else \
		echo "note: tesseract or its osd data is missing (apt-get install tesseract-ocr tesseract-ocr-osd): OCR is unavailable or reads rotated pages as they lie"; \
	fi

# Debian's Chromium runs the browser tests (tests/browser), driven by Playwright from the dev extra, which launches
# this binary by path and never downloads a browser of its own. Installed with apt-get when missing and we are root;
# otherwise those tests skip with the reason.
browser:
	@if command -v chromium >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Chromium with apt-get..."; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else \
		echo "note: chromium is not installed (apt-get install chromium): the browser tests skip"; \
	fi

run: $(STAMP) ocr
	$(VENV)/bin/data-extract local $(ARGS)

# OMP_THREAD_LIMIT=1: Tesseract's OpenMP threads only contend with each other on a small machine.
# stdin from /dev/null: nothing a test starts can ever wait for a terminal answer.
test: $(STAMP) ocr browser
	OMP_THREAD_LIMIT=1 $(VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS) </dev/null

# Style (ruff lint and format) and types (mypy, strict on functions/data_extract; configured in pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check functions tests infra
	$(VENV)/bin/ruff format --check functions tests infra
	$(VENV)/bin/mypy

lint-template: $(SAM_STAMP)
	$(SAM) validate --lint -t template.yaml

# BuildMethod python3.13 builds the dependency layers with pip, no container: sam looks for python3.13 on PATH.
# The Tesseract layer (BuildMethod makefile) is compiled for Amazon Linux 2023 by infra/layers/tesseract/build.sh,
# in Docker; `sam build --use-container` compiles it inside SAM's Amazon Linux 2023 build image instead.
build: $(SAM_STAMP)
	PATH="$(dir $(PYTHON)):$$PATH" $(SAM) build -t template.yaml

ocr-layer:
	bash infra/layers/tesseract/build.sh build/tesseract-layer

bench: $(STAMP)
	$(VENV)/bin/python tests/benchmarks/extract_bench.py $(ARGS)
	$(VENV)/bin/python tests/benchmarks/service_bench.py $(SERVICE_BENCH_ARGS)

clean:
	rm -rf .aws-sam build dist .pytest_cache .local-stack
	find . -path ./$(VENV) -prune -o -path ./$(SAM_VENV) -prune -o \
		\( -name __pycache__ -o -name '*.egg-info' \) -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(SAM_VENV)
