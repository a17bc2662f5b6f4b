# Set-up and entry points. Every target creates .venv/ on first use and reuses it after.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PLOTS_TEMPLATE := $(VENV)/dvc_plots_template.html
# pinned: the template is made from exactly these builds
VEGA := vega@5.33.1 vega-lite@5.23.0 vega-embed@6.29.0
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: setup repro research test test-fast ui plots metrics clean

setup: $(STAMP) $(PLOTS_TEMPLATE)

# torch first, pinned to the local CPU wheel: an unpinned torch pulls the CUDA build.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	bash scripts/install_java.sh
	touch $(STAMP)

# Vega, Vega-Lite and Vega-Embed from the npm registry, inlined into a page template, so that
# `dvc plots show` renders offline (its default page loads them from a CDN). Without npm the
# set-up goes on; `make plots` then says why it cannot.
$(PLOTS_TEMPLATE): scripts/vega_template.py | $(STAMP)
	@if command -v npm >/dev/null; then \
		mkdir -p $(VENV)/vega && cd $(VENV)/vega && npm pack --silent $(VEGA) >/dev/null && cd $(CURDIR) && \
		$(PY) scripts/vega_template.py $(VENV)/vega $@; \
	else echo "npm not found: dvc plots show will load Vega from a CDN (install npm, then make plots)"; fi

repro: setup  ## run the whole pipeline on seeds/ (the 15-minute loop)
	dvc repro

research: setup  ## the research comparisons (hours on 2 cores; README: which command answers which question)
	dvc repro research/dvc.yaml

test: setup  ## the whole test suite
	pytest

test-fast: setup  ## skip the slow tests (training, dvc repro)
	pytest -m "not slow"

plots: setup  ## dvc plots as one self-contained page: dvc_plots/index.html
	test -f $(PLOTS_TEMPLATE) || { echo "no $(PLOTS_TEMPLATE): npm is needed once to make it"; exit 2; }
	dvc plots show --html-template $(PLOTS_TEMPLATE)

metrics: setup  ## the headline figures, one table that fits a terminal
	stance metrics

# MLflow 3.17 opens experiments in its GenAI view whatever their kind; ?workflowType= in the
# link picks the model-training view (runs, models) for that page
ui: setup  ## MLflow UI for one user, on 127.0.0.1 only
	@$(PY) -c 'import pathlib, sqlite3, yaml; \
	name = yaml.safe_load(open("configs/params.yaml"))["mlflow"]["experiment"]; \
	db = pathlib.Path("mlflow.db"); \
	row = db.exists() and sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("select experiment_id from experiments where name = ? and lifecycle_stage = ?", (name, "active")).fetchone(); \
	print(f"the runs of {name!r}, model-training view: http://127.0.0.1:5000/#/experiments/{row[0]}/runs?workflowType=machine_learning" if row else f"no experiment {name!r} in mlflow.db yet (make repro makes it)")'
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri sqlite:///$(CURDIR)/mlflow.db \
		--host 127.0.0.1 --port 5000 --workers 1

clean:
	rm -rf $(VENV)
