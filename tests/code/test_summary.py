import json

from pipeline.summary import ROWS, rows


def test_headline_figures_from_the_metrics_files_and_dashes_where_missing(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/evaluate.json").write_text(json.dumps({"test": {"model": {"macro_f1": 0.81234}},
                                                                "test_sentences": 17}))
    table = {label: (value, file) for label, value, file in rows(tmp_path)}
    assert len(table) == len(ROWS)
    assert table["test article: model macro-F1"] == ("0.812", "metrics/evaluate.json")
    assert table["test article: sentences"][0] == "17"
    assert table["crossval: shipped minus seed-only"][0] == "-"  # the research stages have not run
    assert max(len(" ".join(row)) for row in rows(tmp_path)) < 100  # fits a terminal
