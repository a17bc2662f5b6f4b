"""The MLflow pyfunc wrapper, logged as code ("models from code") so nothing is pickled.

Input: a DataFrame with a `text` column (or a list of strings); optionally `article_id`,
whose rows, in order, give each other context (the headline and the previous sentence) as
`stance score` does. A row whose `text` is not a non-empty string is an error naming the row
(a 400 from `mlflow models serve`), never scored as "None" or "nan"; no rows, no predictions.
Output: a DataFrame with `label` and the probability of each class.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class StancePyfunc(PythonModel):
    def load_context(self, context):
        from pipeline.classifier import StanceClassifier

        self.classifier = StanceClassifier.load(context.artifacts["model_dir"], device="auto")

    def predict(self, context, model_input, params=None):
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        from pipeline.labels import LABELS
        from pipeline.schema import with_context

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame({"text": list(model_input)})
        if len(frame) and "text" not in frame:
            raise MlflowException(f"row 0: no 'text' field (fields: {', '.join(map(str, frame.columns))})",
                                  INVALID_PARAMETER_VALUE)
        texts = list(frame["text"]) if len(frame) else []
        for row, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                shown = None if not isinstance(text, str) and pd.isna(text) else text  # JSON null arrives as NaN
                raise MlflowException(f"row {row}: 'text' must be a non-empty string, got {shown!r}",
                                      INVALID_PARAMETER_VALUE)
        articles = list(frame["article_id"]) if "article_id" in frame else [None] * len(texts)
        records = with_context([{"article_id": a, "index": i if a is not None else None, "text": t}
                                for i, (a, t) in enumerate(zip(articles, texts))])
        probs = self.classifier.predict_proba(texts, contexts=[tuple(r["context"]) for r in records])
        out = pd.DataFrame(probs, columns=list(LABELS)).astype("float64")
        out.insert(0, "label", [LABELS[i] for i in probs.argmax(axis=1)] if len(texts) else [])
        return out


mlflow.models.set_model(StancePyfunc())
