# Everything runs in .venv, created and installed on first use from the exact pins in
# requirements.lock (what the package needs at run time: serve, predict, monitor), with
# requirements-notebooks.lock (JupyterLab, papermill, the plots) and requirements-dev.lock (the
# tests and linters) over it: everything a template user needs, in one step. A fresh machine
# needs only python3 (3.11, with venv) and make.
# EXTRAS installs optional extras too, each from its requirements-<extra>.lock: dask
# (compute.engine: dask) and postgres (a PostgreSQL store.url), e.g. make test EXTRAS="dask
# postgres". The default install has neither.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
KNOWN_EXTRAS := dask postgres
EXTRAS ?=
ifneq ($(filter-out $(KNOWN_EXTRAS),$(EXTRAS)),)
$(error EXTRAS can name $(KNOWN_EXTRAS) (e.g. EXTRAS="dask postgres"), got '$(EXTRAS)')
endif
LOCKS := requirements.lock requirements-notebooks.lock requirements-dev.lock \
	$(foreach extra,$(sort $(EXTRAS)),requirements-$(extra).lock)
space := $(subst ,, )
INSTALLED := $(VENV)/.installed$(subst $(space),,$(foreach extra,$(sort $(EXTRAS)),-$(extra)))
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: help run test lint format lab notebooks check lock clean clean-all

help:  ## list the targets (the default)
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /\1\t/' | expand -t 12

run: $(INSTALLED)  ## set up, then run the whole lifecycle
	$(BIN)/lifecycle run

test: $(INSTALLED)  ## set up, then run every test: unit, e2e, load, browser, nbval over the stored notebooks
	$(BIN)/python -m pytest

lint: $(INSTALLED)  ## ruff (rules and format) and the import contract between packages
	$(BIN)/ruff check src tests benchmarks starter
	$(BIN)/ruff format --check src tests benchmarks starter
	cd src && ../$(BIN)/lint-imports --config ../pyproject.toml

format: $(INSTALLED)  ## ruff's formatter and its safe fixes
	$(BIN)/ruff check --fix src tests benchmarks starter
	$(BIN)/ruff format src tests benchmarks starter

lab: $(INSTALLED)  ## JupyterLab on this environment
	$(BIN)/jupyter lab notebooks/

notebooks: $(INSTALLED)  ## re-execute the notebooks in place so their stored outputs are current
	$(BIN)/lifecycle run --store

check: $(INSTALLED)  ## validate params/
	$(BIN)/lifecycle params check

$(INSTALLED): pyproject.toml $(LOCKS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) $(addprefix -r ,$(LOCKS))
	$(PIP) --no-deps -e .
	touch $@

# Each extra is resolved with the default pins as constraints, so it adds packages and never
# changes the version of one the default install has; its lock is what pip would add to the
# default install (a dry run's report), so any extras install together. dev comes over
# notebooks (nbval runs the notebooks): it is resolved with both locks as constraints and in a
# venv that has both, so its lock holds what it adds to them.
# $(call added,EXTRA,CONSTRAINT FILES): write requirements-EXTRA.lock, what EXTRA adds to .lock-venv.
added = .lock-venv/bin/python -m pip install --quiet --disable-pip-version-check --dry-run \
	  --report .lock-venv/report.json $(addprefix -c ,$(2)) ".[$(1)]" && \
	{ echo "\# What the $(1) extra adds to $(subst $(space), and ,$(2)), pinned exactly. Regenerate with \`make lock\`."; \
	  .lock-venv/bin/python -c "import json, sys; found = [p['metadata'] for p in json.load(open(sys.argv[1]))['install']]; \
	    print(*(m['name'] + '==' + m['version'] for m in sorted(found, key=lambda m: m['name'].lower()) \
	    if m['name'] != 'lifecycle'), sep=chr(10))" \
	    .lock-venv/report.json; } > requirements-$(1).lock

lock:  ## re-pin requirements.lock (default install) and requirements-<extra>.lock (what each extra adds)
	rm -rf .lock-venv build && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check .
	{ echo '# Every package the default install has, pinned exactly (pip freeze). Regenerate with `make lock`.'; \
	  .lock-venv/bin/python -m pip freeze --exclude lifecycle; } > requirements.lock
	$(call added,notebooks,requirements.lock)
	$(foreach extra,$(KNOWN_EXTRAS),$(call added,$(extra),requirements.lock) &&) true
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-notebooks.lock
	$(call added,dev,requirements.lock requirements-notebooks.lock)
	rm -rf .lock-venv build

clean: $(INSTALLED)  ## remove what `lifecycle run` makes again; keeps your tables, data/raw, the stores, the label feed, models/
	$(BIN)/lifecycle clean

clean-all: $(INSTALLED)  ## remove data, models and reports whole, your tables and models too; asks (or CONFIRM=yes)
	$(BIN)/lifecycle clean --all $(if $(filter yes,$(CONFIRM)),--yes)
