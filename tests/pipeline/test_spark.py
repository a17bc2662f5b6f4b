"""`stance score --engine spark` on a real local Spark session (local[2]), against the local
engine on the same inputs; and the registered model through `mlflow.pyfunc.spark_udf`."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("pyspark")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("java") is None,
                                                   reason="no Java (make setup installs openjdk-17-jre-headless)")]

from pipeline.cli import app  # noqa: E402

PARTIES = ["Drummark", "the Velsen ministry", "Ostrava Mining", "coach Ilse Brand", "the Harlow Trust",
           "General Tarkov", "Kestrel Air", "the Norvik tribunal"]
CLAIMS = ["accused {a} of hiding safety reports from inspectors.", "denied that {a} had ever paid the officials.",
          "said the inquiry into {a} would resume on Tuesday.", "rejected claims that {a} doctored the test results.",
          "alleged that {a} forced workers to sign blank contracts.", "will publish the audit of {a} next month."]


def article(rng: random.Random, n: int) -> str:
    lines = [f"Dispute {n} over {rng.choice(PARTIES)}"]
    for _ in range(rng.randint(2, 5)):
        subject, other = rng.sample(PARTIES, 2)
        lines.append(f"{subject[0].upper()}{subject[1:]} {rng.choice(CLAIMS).format(a=other)}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """150 articles in nested folders, a JSONL table of 50 more, and two bad files."""
    rng = random.Random(7)
    root = tmp_path_factory.mktemp("archive") / "news"
    for n in range(150):
        path = root / f"desk{n % 3}" / f"story{n:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article(rng, n))
    with open(root / "wire.jsonl", "w") as handle:
        for n in range(150, 200):
            handle.write(json.dumps({"id": f"wire-{n}", "text": article(rng, n)}) + "\n")
    (root / "desk0" / "broken.txt").write_bytes(b"\x00\x01binary")
    (root / "desk1" / "memo.docx").write_bytes(b"PK\x03\x04")
    return root


@pytest.fixture(scope="module")
def spark():
    from pipeline.spark_scoring import session

    spark = session("local[2]", "stance tests")
    yield spark
    spark.stop()


def spark_score(*args):
    return CliRunner().invoke(app, ["score", "--engine", "spark", *args])


def rows(path: Path) -> list[dict]:
    import pandas as pd

    return pd.read_parquet(path).to_dict("records")


@pytest.mark.parametrize("backend", ["onnx-fp32", "onnx"])
def test_spark_labels_match_the_local_engine_and_a_rerun_adds_nothing(spark, archive, tiny_onnx, tmp_path, backend):
    out = tmp_path / "scores.parquet"
    result = spark_score(str(archive), "-o", str(out), "--model", str(tiny_onnx), "--backend", backend)
    assert result.exit_code == 3, result.output  # the bad files are skipped, the rest scored
    assert "200 articles" in result.output
    errors = {Path(r["path"]).name: r["reason"] for r in rows(tmp_path / "scores.errors.parquet")}
    assert errors == {"broken.txt": "binary file (contains NUL bytes)",
                      "memo.docx": "unsupported format '.docx' (expected .txt, .html, .htm or .jsonl)"}

    local = tmp_path / "local.jsonl"
    CliRunner().invoke(app, ["score", str(archive), "-o", str(local), "--model", str(tiny_onnx), "--backend", backend])
    expected = {(r["article_id"], r["index"]): r for r in map(json.loads, local.read_text().splitlines())}
    got = {(r["article_id"], r["index"]): r for r in rows(out)}
    assert len(expected) > 600 and got.keys() == expected.keys()
    assert all(got[k]["label"] == r["label"] and got[k]["text"] == r["text"] and got[k]["start"] == r["start"]
               for k, r in expected.items())
    assert max(abs(got[k]["p_denial"] - r["p_denial"]) for k, r in expected.items()) < 1e-5
    summaries = rows(tmp_path / "scores.articles.parquet")
    assert len(summaries) == 200 and {s["model"] for s in summaries} == {f"{backend}:{s['model'].split(':')[1]}" for s in summaries}

    again = spark_score(str(archive), "-o", str(out), "--model", str(tiny_onnx), "--backend", backend)
    assert "0 articles" in again.output and "200 already in the output" in again.output
    assert len(rows(out)) == len(got) and len(rows(tmp_path / "scores.articles.parquet")) == 200


def test_a_changed_article_replaces_its_rows_and_another_model_is_refused(spark, archive, tiny_onnx, tmp_path):
    news = tmp_path / "news"
    news.mkdir()
    (news / "a.txt").write_text("Drummark accused Kestrel Air of hiding the reports.\nKestrel Air denied it.\n")
    (news / "b.txt").write_text("The Norvik tribunal will publish the audit next month.\n")
    out = tmp_path / "s.parquet"
    assert spark_score(str(news), "-o", str(out), "--model", str(tiny_onnx)).exit_code == 0
    (news / "a.txt").write_text("Drummark now says Kestrel Air hid nothing at all from inspectors.\n")
    result = spark_score(str(news), "-o", str(out), "--model", str(tiny_onnx))
    assert result.exit_code == 0 and "1 changed since, scored again" in result.output, result.output
    texts = sorted(r["text"] for r in rows(out) if r["article_id"] == "a")
    assert texts == ["Drummark now says Kestrel Air hid nothing at all from inspectors."]
    assert sorted(r["article_id"] for r in rows(tmp_path / "s.articles.parquet")) == ["a", "b"]

    other = spark_score(str(news), "-o", str(out), "--model", str(tiny_onnx), "--backend", "onnx-fp32")
    assert other.exit_code == 2 and "use --overwrite" in other.output


def test_executors_score_without_torch_or_transformers(spark, tiny_onnx):
    from pipeline.classifier import StanceClassifier

    folder = str(tiny_onnx)

    def probe(_):
        import sys

        StanceClassifier.load(folder, backend="onnx", threads=1).predict(["Kestrel Air denied it."])
        yield {"torch", "transformers"} & set(sys.modules)

    # (this runs before the spark_udf test, whose workers import torch for the pyfunc)
    assert spark.sparkContext.parallelize([0], 1).mapPartitions(probe).collect() == [set()]


def test_spark_udf_on_the_registered_model(spark, tiny_model, tmp_path):
    import mlflow
    from pyspark.sql.functions import struct

    from pipeline import tracking
    from pipeline.config import MlflowConfig

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    try:
        experiment = mlflow.create_experiment("udf", artifact_location=(tmp_path / "mlruns").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            pass
        tracking.log_and_register_model(tiny_model, MlflowConfig(), run.info.run_id)
        predict = mlflow.pyfunc.spark_udf(spark, "models:/stance-classifier@champion", env_manager="local",
                                          result_type="label string, accusation double, denial double, neutral double")
        frame = spark.createDataFrame([("Drummark accused Kestrel Air of fraud.",), ("Kestrel Air denied it.",)], ["text"])
        # a struct passes the column by name (the model has no signature, so MLflow would
        # otherwise name it 0, and the pyfunc insists on `text`)
        got = frame.withColumn("stance", predict(struct("text"))).select("stance.*").collect()
    finally:
        mlflow.set_tracking_uri(None)
    assert len(got) == 2
    for row in got:
        assert row.label in ("accusation", "denial", "neutral")
        assert abs(row.accusation + row.denial + row.neutral - 1) < 1e-5
