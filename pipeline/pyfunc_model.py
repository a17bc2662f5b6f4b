"""The MLflow pyfunc wrapper, logged as code ("models from code") so nothing is pickled.

Input: a DataFrame with a `text` column (or a list of strings).
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
        from pipeline.labels import LABELS

        if isinstance(model_input, pd.DataFrame):
            texts = model_input["text" if "text" in model_input else model_input.columns[0]]
        else:
            texts = model_input
        texts = [str(t) for t in list(texts)]
        probs = self.classifier.predict_proba(texts)
        out = pd.DataFrame(probs, columns=list(LABELS)).astype("float64")
        out.insert(0, "label", [LABELS[i] for i in probs.argmax(axis=1)] if len(texts) else [])
        return out


mlflow.models.set_model(StancePyfunc())
