"""Table and figure builders that several papers use (registered in advrepro.papers.BUILDERS), and the helpers
their builders share."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd

from advrepro.papers import BUILDERS, ArtifactInputs, long_table


@BUILDERS.register()
def error_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Error (%) per model, a column per evaluation (options.columns: name -> evaluation): Lyu et al. 2015
    Tables I-III, Tanay & Griffin 2016's LeNet test errors."""
    return long_table([
        (model, inputs.labels[model], column, 100 * inputs.result(model, evaluation)["error"], np.nan)
        for model in artifact["models"] for column, evaluation in artifact["options"]["columns"].items()
    ])


def mean_and_spread(values: list[float], spread: Literal["sem", "std"] = "sem") -> tuple[float, float]:
    """The mean of one number from several runs (seeds) and their spread: the standard error of the mean ("sem")
    or the sample standard deviation ("std"); NaN for a single run. Goodfellow et al. 2014's five 1600-unit runs,
    Shaham et al. 2015 Table 1's nets over three seeds."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), math.nan
    std = values.std(ddof=1)
    return float(values.mean()), float(std if spread == "std" else std / np.sqrt(len(values)))
