"""A tiny made-up paper for tests: its own evaluation kind (the logit margin), a table and a figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from advrepro import figures
from advrepro.evaluate import EVALUATIONS, EvaluationInputs
from advrepro.inference import predict
from advrepro.papers import BUILDERS, ArtifactInputs, long_table


@EVALUATIONS.register()
def logit_margin(inputs: EvaluationInputs, quantile: float = 0.5) -> dict:
    """The `quantile` of the margin between the true class's logit and the largest other one."""
    logits = predict(inputs.model, inputs.x)
    true = logits.gather(1, inputs.y[:, None])[:, 0]
    others = logits.scatter(1, inputs.y[:, None], float("-inf")).max(1).values
    return {"margin": (true - others).quantile(quantile).item()}


@BUILDERS.register()
def margin_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    (model,) = artifact["models"]
    return long_table([(model, inputs.labels[model], "test error", 100 * inputs.result(model, "clean")["error"], np.nan),
                       (model, inputs.labels[model], "median margin", inputs.result(model, "margin")["margin"], np.nan)])


@BUILDERS.register()
def margin_figure(artifact: dict, inputs: ArtifactInputs):
    (model,) = artifact["models"]
    fig, ax = figures.new()
    ax.bar([inputs.labels[model]], [inputs.result(model, "margin")["margin"]])
    ax.set_ylabel("median logit margin")
    return fig
