"""The registered model behind a real `mlflow models serve` on 127.0.0.1: good rows get a
label and three probabilities, a row without a string `text` is a 400 naming the row, and an
empty request an empty answer."""

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port: int, records) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                     data=json.dumps({"dataframe_records": records}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory, env):
    import mlflow

    from pipeline import tracking
    from pipeline.config import MlflowConfig

    store = tmp_path_factory.mktemp("serve")
    uri = f"sqlite:///{store}/mlflow.db"
    env = {**env, "MLFLOW_TRACKING_URI": uri}
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("serve", artifact_location=(store / "mlruns").as_uri())
    with mlflow.start_run(experiment_id=experiment) as run:
        pass
    tracking.log_and_register_model(tiny_model, MlflowConfig(), run.info.run_id)
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", "models:/stance-classifier@champion",
         "--host", "127.0.0.1", "--port", str(port), "--env-manager", "local", "--workers", "1"],
        cwd=store, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(120):  # start-up: imports and the model load take a while on 2 cores
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                if process.poll() is not None:
                    raise AssertionError(process.stderr.read().decode()[-2000:])
                time.sleep(1)
        else:
            raise AssertionError("the server did not answer /ping in 120 s")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        mlflow.set_tracking_uri(None)


def test_good_rows_get_a_label_and_probabilities(server):
    status, body = post(server, [{"text": "The ministry rejected the report."}, {"text": "Rights groups accused it."}])
    assert status == 200 and len(body["predictions"]) == 2
    assert set(body["predictions"][0]) == {"label", "accusation", "denial", "neutral"}


@pytest.mark.parametrize("records, row, problem", [
    ([{"text": "Fine."}, {"text": None}], 1, "'text' must be a non-empty string, got None"),
    ([{"text": 42}], 0, "'text' must be a non-empty string, got 42"),
    ([{"body": "no text field"}], 0, "no 'text' field"),
])
def test_a_row_without_a_string_text_is_a_400_naming_it(server, records, row, problem):
    status, body = post(server, records)
    assert status == 400 and f"row {row}: {problem}" in body.get("message", ""), body


def test_an_empty_request_gets_an_empty_answer(server):
    assert post(server, []) == (200, {"predictions": []})
