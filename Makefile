# Set-up is part of every target: a fresh clone needs only `make demo` or `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow lint format docs bench bench-opt bench-control train presets clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The CPU build of PyTorch first: a range alone would fetch a multi-GB CUDA build.
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev,learn,ray]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/cnc6g compare --scenario paper-case-study --policies rand,grd,hmarl --out results

test: install
	$(PY) -m pytest

test-slow: install
	$(PY) -m pytest -m slow

lint: install
	$(VENV)/bin/ruff check src tests benchmarks docs
	$(VENV)/bin/ruff format --check src tests benchmarks docs
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix src tests benchmarks docs
	$(VENV)/bin/ruff format src tests benchmarks docs

# The documentation site; the scenario reference is generated from the models (docs/hooks.py).
docs: install
	$(PY) -m pip install --quiet -e '.[docs]'
	$(VENV)/bin/mkdocs build --strict --site-dir site

bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(PY) -m benchmarks.slot_throughput --json benchmarks/results.json

bench-opt: install
	$(PY) -m benchmarks.opt_solve --json benchmarks/opt_results.json

# Unified service requests/s and decision latency against `cnc6g serve` (SQLite; PostgreSQL too
# when CNC6G_BENCH_POSTGRES or the default local server answers); about 5 minutes.
bench-control: install
	$(PY) -m benchmarks.control_plane --profile --json benchmarks/control_plane_results.json

# Retrain the shipped checkpoints of HMARL (the case study's, the three chain presets') and its two
# ablations and draw their learning curves.
# HMARL ships seed 2, the best of seeds 0, 1 and 2 on the same validation twins (see docs/hmarl.md).
train: install
	$(VENV)/bin/cnc6g train hmarl --scenario paper-case-study --seed 2 --steps 1500 --out results/train
	for chain in xr-offload env-sensing windfarm-assistant; do \
		$(VENV)/bin/cnc6g train hmarl --scenario $$chain --seed 0 --steps 1500 --out results/train; \
	done
	for learner in hmarl-central hmarl-independent; do \
		$(VENV)/bin/cnc6g train $$learner --scenario paper-case-study --seed 0 --steps 1500 --out results/train; \
	done
	$(VENV)/bin/cnc6g curves results/train

presets: install
	$(PY) -m cnc6g.scenarios.presets
	$(PY) -m cnc6g.scenarios.synthetic_traces

clean:
	rm -rf $(VENV) results site .pytest_cache .ruff_cache .mypy_cache
