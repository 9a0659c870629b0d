"""Table and figure builders that several papers use (registered in advrepro.papers.BUILDERS)."""

from __future__ import annotations

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
