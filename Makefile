# Everything runs in .venv, created and installed on first use from the exact pins in
# requirements.lock. A fresh machine needs only python3 (3.11, with venv) and make.
# EXTRAS=dask (e.g. make test EXTRAS=dask) also installs the dask extra from
# requirements-dask.lock, for compute.engine: dask; the default install has no Dask.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?=
ifneq ($(filter-out dask,$(EXTRAS)),)
$(error EXTRAS can be dask or empty, got '$(EXTRAS)')
endif
LOCKS := requirements.lock $(if $(EXTRAS),requirements-dask.lock)
INSTALLED := $(VENV)/.installed$(if $(EXTRAS),-$(EXTRAS))
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: run test lab notebooks check lock clean clean-all

run: $(INSTALLED)  ## set up, then run the whole lifecycle
	$(BIN)/lifecycle run

test: $(INSTALLED)  ## set up, then run the unit tests and nbval over the stored notebooks
	$(BIN)/python -m pytest

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

# The extra is resolved with the default pins as constraints, so it adds packages and never
# changes the version of one the default install has.
lock:  ## re-pin requirements.lock (default install) and requirements-dask.lock (what the dask extra adds)
	rm -rf .lock-venv build && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check .
	{ echo '# Every package the default install has, pinned exactly (pip freeze). Regenerate with `make lock`.'; \
	  .lock-venv/bin/python -m pip freeze --exclude lifecycle; } > requirements.lock
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock '.[dask]'
	{ echo '# What the dask extra (compute.engine: dask) adds to requirements.lock, pinned exactly. Regenerate with `make lock`.'; \
	  .lock-venv/bin/python -m pip freeze --exclude lifecycle | grep -vxFf requirements.lock; } > requirements-dask.lock
	rm -rf .lock-venv build

clean: $(INSTALLED)  ## remove what `lifecycle run` makes again; keeps your tables, data/raw, the stores, the label feed, models/
	$(BIN)/lifecycle clean

clean-all: $(INSTALLED)  ## remove data, models and reports whole, your tables and models too; asks (or CONFIRM=yes)
	$(BIN)/lifecycle clean --all $(if $(filter yes,$(CONFIRM)),--yes)
