# The contact center's commands. `make run` runs the platform; `make test` passes the tests
# (from a fresh machine: it bootstraps uv, the locked virtualenv, PostgreSQL and RabbitMQ).

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
RUN := $(UV) run --frozen --all-packages
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy

.PHONY: help run test lint format bench simulate simulate-dialer sim contracts services deps reset clean

# `make simulate` with no ARGS: a reference run (200 calls/h, AHT 180 s, 14 agents, T = 20 s).
SIMULATE_ARGS := --arrivals-per-hour 200 --aht 180 --agents 14 --threshold 20 --calls 20000 --warmup 1000 --seed 1 --no-explain

help:
	@echo "make run        the whole platform on this machine, playing a demo day (wallboard, APIs)"
	@echo "make test       set up everything needed and run the whole test suite"
	@echo "make lint       ruff + mypy --strict"
	@echo "make bench      benchmarks, one JSON line per figure"
	@echo "make simulate   the ACD in virtual time against Erlang C/A (ARGS='--arrivals-per-hour 200 --aht 180 --agents 13')"
	@echo "make simulate-dialer  outbound pacing in virtual time (ARGS='--mode predictive --agents 25 ...')"
	@echo "make sim        the FreeSWITCH simulator alone, in the foreground"
	@echo "make contracts  regenerate proto/schemas and proto/asyncapi.yaml from the models"
	@echo "make reset      forget what make run kept in var/ (databases, the demo's last day)"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) uv.lock pyproject.toml $(wildcard */pyproject.toml */*/pyproject.toml)
	$(UV) sync --frozen --all-packages --quiet
	@touch $@

deps: .venv/.synced

services:
	@bash scripts/services.sh

run: deps
	$(RUN) python -m cc_platform

test: deps services
	$(RUN) pytest

lint: deps
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: deps
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

bench: deps services
	@for script in bench/*.py; do $(RUN) python $$script || exit 1; done

simulate: deps
	$(RUN) python -m cc_routing.simulate $(or $(ARGS),$(SIMULATE_ARGS))

simulate-dialer: deps
	$(RUN) python -m cc_routing.dialer_simulate $(ARGS)

sim: deps
	$(RUN) python -m cc_sim $(ARGS)

contracts: deps
	$(RUN) python -m cc_proto.export

reset:
	rm -rf var

clean:
	rm -rf .venv .tools var .mypy_cache .ruff_cache
