# Set-up and entry points. Every target creates .venv/ on first use and reuses it after.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: setup repro test test-fast ui clean

setup: $(STAMP)

# torch first, pinned to the local CPU wheel: an unpinned torch pulls the CUDA build.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

repro: setup  ## run the whole pipeline on seeds/
	dvc repro

test: setup  ## the whole test suite
	pytest

test-fast: setup  ## skip the slow tests (training, dvc repro)
	pytest -m "not slow"

ui: setup  ## MLflow UI for one user, on 127.0.0.1 only
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db \
		--host 127.0.0.1 --port 5000 --workers 1

clean:
	rm -rf $(VENV)
