# obsgen — every target installs what it needs first, so a fresh clone runs `make render` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .tools/bin
export PATH := $(CURDIR)/$(TOOLS):$(CURDIR)/$(BIN):$(PATH)

SPEC ?= examples/quickstart.yaml
OUT  ?= out

.PHONY: install tools render check test lint schema bench bench-slo-server examples clean fuzz

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $@

tools: $(TOOLS)/.installed
$(TOOLS)/.installed: scripts/install-tools.sh
	bash scripts/install-tools.sh
	touch $@

render: install
	$(BIN)/obsgen render $(SPEC) -o $(OUT)

check: render tools
	$(BIN)/obsgen check $(OUT)

lint: install
	$(BIN)/ruff check obsgen tests bench scripts
	$(BIN)/mypy obsgen

# the suite on every core: most of its time is promtool, Prometheus and Alertmanager subprocesses
test: install tools lint
	$(BIN)/pytest -q -n auto

schema: install
	$(BIN)/obsgen schema > specs/obsgen.schema.json

# BENCH_ARGS=--big adds 4,000 and 10,000 services from spec folders: render, re-render after one change, --check
bench: install tools
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

# SLO rule cost on a real Prometheus with 3 days of history (about 5 minutes)
bench-slo-server: install tools
	$(BIN)/python bench/bench_slo_server.py --seconds 60

examples: install
	$(BIN)/python scripts/render-examples.py

# mutation fuzz of every example spec, beyond the 200 mutants each that `make test` runs
# (FUZZ_ARGS="--spec quickstart --report fuzz.md" for one spec and a Markdown report)
FUZZ_N    ?= 2000
FUZZ_SEED ?= 1
fuzz: install tools
	$(BIN)/python scripts/fuzz.py --per-example $(FUZZ_N) --seed $(FUZZ_SEED) $(FUZZ_ARGS)

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
