# Everything runs in .venv, created and installed on first use from the exact pins in
# requirements.lock. A fresh machine needs only python3 (3.11, with venv) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test lab notebooks check lock clean

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

$(INSTALLED): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

lock:  ## re-pin requirements.lock from the pins in pyproject.toml
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --disable-pip-version-check .
	{ echo '# Every package the pip path installs, pinned exactly (pip freeze). Regenerate with `make lock`.'; \
	  .lock-venv/bin/python -m pip freeze --exclude lifecycle; } > requirements.lock
	rm -rf .lock-venv

clean:  ## remove runtime output (data, models, reports); keeps .venv
	rm -rf data models reports
