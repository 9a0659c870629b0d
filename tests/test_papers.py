"""Table builders that aggregate models: the spread over seeds, the lambda-convention verdict, Shaham's Tables 1-2."""

import math

import numpy as np
import pytest

from advrepro.papers import ArtifactInputs, lyu2015, shaham2015
from advrepro.papers.shared import mean_and_spread


def test_mean_and_spread_is_the_standard_error_or_the_standard_deviation_over_runs():
    assert mean_and_spread([1.0, 2.0, 3.0], "std") == pytest.approx((2.0, 1.0))
    assert mean_and_spread([1.0, 2.0, 3.0], "sem") == pytest.approx((2.0, 1 / math.sqrt(3)))
    mean, spread = mean_and_spread([0.5])
    assert mean == 0.5 and math.isnan(spread)


def _noise(error: float) -> dict:
    return {"noise": [{"std": 0, "error": error, "additional_error": 0.0}]}


def test_convention_table_marks_the_reading_whose_clean_errors_lie_nearer_the_printed_ones():
    artifact = {"evaluations": ["noise"], "options": {
        "columns": ["a", "b"],
        "conventions": {"summed": {"label": "summed", "models": ["s1", "s2"]},
                        "mean": {"label": "mean", "models": ["m1", "m2"]}}},
        "reference": {"values": {"summed": {"a": 6.0, "b": 9.0}, "mean": {"a": 6.0, "b": 9.0}}}}
    errors = {"s1": 0.07, "s2": 0.08, "m1": 0.061, "m2": 0.2}
    inputs = ArtifactInputs({(m, "noise"): _noise(e) for m, e in errors.items()}, {m: {"label": m} for m in errors})
    table = lyu2015.convention_table(artifact, inputs).set_index(["row", "column"])
    assert table.loc[("summed", "mean |Δ|"), "ours"] == pytest.approx((1.0 + 1.0) / 2)
    assert table.loc[("mean", "mean |Δ|"), "ours"] == pytest.approx((0.1 + 11.0) / 2)
    assert table.loc[("summed", "b"), "ours"] == pytest.approx(8.0)
    assert table.loc[("summed", "a"), "row_label"] == "summed (closest to the printed clean errors)"
    assert table.loc[("mean", "a"), "row_label"] == "mean"


def test_accuracy_table_rows_are_the_mean_and_standard_deviation_over_seeds_with_the_set_size():
    models = ["base", "base_s2", "base_s3", "robust"]
    summary = {"spec": {"model": "base"}, "size": 12, "source_examples": 100,
               "size_per_step": [{"p": 2, "eps": 0.25, "size": 12}],
               "calibration": {"target": 12, "scale": 0.125, "size": 12}}
    results = {}
    for model, error in zip(models, [0.01, 0.02, 0.03, 0.05]):
        results[(model, "clean")] = {"error": error}
        results[(model, "on_set")] = {"error": 1 - error, "adversarial_set": summary}
    artifact = {"models": models, "options": {
        "columns": {"test": "clean", "set": "on_set"}, "set_column": "set", "size_column": "size",
        "seeds": {"base": ["base", "base_s2", "base_s3"], "robust": ["robust"]}}}
    inputs = ArtifactInputs(results, {m: {"label": m.upper()} for m in models})
    table = shaham2015.accuracy_table(artifact, inputs).set_index(["row", "column"])
    assert table.loc[("base", "test"), "ours"] == pytest.approx(98.0)
    assert table.loc[("base", "test"), "ours_sem"] == pytest.approx(1.0)  # the standard deviation of 99, 98, 97
    assert table.loc[("base", "size"), "ours"] == 12
    assert np.isnan(table.loc[("robust", "test"), "ours_sem"]) and table.loc[("robust", "test"), "ours"] == 95.0
    labels = set(table.loc["base", "row_label"])
    assert len(labels) == 1 and "mean ± sd over 3 seeds" in labels.pop()
    assert "0.125 × the registry's" in table.loc[("base", "size"), "row_label"]
