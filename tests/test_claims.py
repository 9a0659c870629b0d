"""The claim checks (issue 15): each holds on numbers that satisfy it and fails on numbers that break it; a claim
is not evaluable on missing, NaN or synthetic numbers; the shipped claims agree with the papers' own tables.

The numbers are made up, or the papers' printed ones read from the registries; none is typed here."""

import copy
import math

import pandas as pd
import pytest
import yaml

from advrepro import claims, registry, scorecard, tablefiles
from conftest import REPO

RULES = scorecard.read_rules(REPO / registry.FIDELITY)
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
PAPERS = registry.load(copy.deepcopy(CONFIG), REPO)
MNIST, SYNTHETIC = "mnist (official), test split", "cifar10 (synthetic-standin), test split"


def written(values: dict, name="t", datasets=(MNIST,), models=None) -> tablefiles.WrittenTable:
    """A written table with our `values` {row: {column: value}}."""
    long = pd.DataFrame([(row, row, column, value, math.nan, math.nan, math.nan)
                         for row, columns in values.items() for column, value in columns.items()],
                        columns=["row", "row_label", "column", "ours", "ours_sem", "paper", "difference"])
    return tablefiles.WrittenTable(name, long, {"datasets": list(datasets)}, models or {})


def verdict(values: dict, check: dict, **table) -> dict:
    claim = {"claim": "made up", "source": "nowhere", "table": "t", "check": check}
    return claims.evaluate_all("p", {"c": claim}, {"t": written(values, **table)}, RULES["data"])[0]


def status(values: dict, check: dict, **table) -> str:
    return verdict(values, check, **table)["status"]


RISING = {"a": {"x": 1.0, "y": 2.0}, "b": {"x": 2.0, "y": 3.0}, "c": {"x": 3.0, "y": 5.0}}


@pytest.mark.parametrize("check, holds_on, breaks_on", [
    ({"kind": "monotone", "order": ["a", "b", "c"], "at": ["x", "y"], "direction": "increasing"},
     RISING, {**RISING, "b": {"x": 2.0, "y": 6.0}}),
    ({"kind": "monotone", "order": ["c", "b", "a"], "at": ["x"], "direction": "decreasing"},
     RISING, {**RISING, "a": {"x": 2.5, "y": 2.0}}),
    ({"kind": "monotone", "along": "columns", "order": ["x", "y"], "at": ["a", "b", "c"], "direction": "increasing"},
     RISING, {**RISING, "c": {"x": 3.0, "y": 3.0}}),  # a tie breaks a strict order
    ({"kind": "rows_compare", "rows": ["b", "c"], "than": "a", "relation": "above"},
     RISING, {**RISING, "c": {"x": 3.0, "y": 1.0}}),
    ({"kind": "rows_compare", "rows": ["a"], "than": ["b", "c"], "relation": "below", "columns": ["y"]},
     RISING, {**RISING, "a": {"x": 1.0, "y": 4.0}}),
    ({"kind": "columns_compare", "column": "x", "than": "y", "relation": "below"},
     RISING, {**RISING, "b": {"x": 3.5, "y": 3.0}}),
    ({"kind": "columns_compare", "column": "y", "than": "x", "relation": "above", "rows": ["c"]},
     RISING, {**RISING, "c": {"x": 5.0, "y": 5.0}}),
    ({"kind": "bound", "relation": "above", "limit": 0.5}, RISING, {**RISING, "a": {"x": 0.4, "y": 2.0}}),
    ({"kind": "bound", "relation": "below", "limit": 2.5, "rows": ["a", "b"], "columns": ["x"]},
     RISING, {**RISING, "b": {"x": 2.5, "y": 3.0}}),
])
def test_each_check_holds_on_numbers_that_satisfy_it_and_fails_on_numbers_that_break_it(check, holds_on, breaks_on):
    assert status(holds_on, check) == claims.HOLDS
    failed = verdict(breaks_on, check)
    assert failed["status"] == claims.FAILS and "is not" in failed["detail"]


def test_a_claim_on_a_missing_or_nan_number_is_not_evaluable():
    check = {"kind": "rows_compare", "rows": ["b"], "than": "a", "relation": "above"}
    missing = verdict({"b": {"x": 2.0}}, check)  # a reduced scale dropped row a
    assert missing["status"] == claims.NOT_EVALUABLE and "row a" in missing["detail"]
    nan = verdict({"a": {"x": math.nan}, "b": {"x": 2.0}}, {**check, "columns": ["x"]})
    assert nan["status"] == claims.NOT_EVALUABLE and "no value of ours at a / x" in nan["detail"]
    absent = claims.evaluate_all("p", {"c": {"claim": "", "source": "", "table": "gone", "check": check}}, {},
                                 RULES["data"])[0]
    assert absent["status"] == claims.NOT_EVALUABLE


def test_a_claim_on_the_synthetic_cifar10_stand_in_is_not_evaluable():
    check = {"kind": "rows_compare", "rows": ["robust"], "than": "base", "relation": "above"}
    values = {"base": {"acc": 1.0}, "robust": {"acc": 2.0}}
    models = {"base": "cifar10", "robust": "cifar10_yuv"}
    assert status(values, check, datasets=(MNIST,), models=models) == claims.HOLDS
    found = verdict(values, check, datasets=(SYNTHETIC, MNIST), models=models)
    assert found["status"] == claims.NOT_EVALUABLE and RULES["data"]["synthetic-standin"]["label"] in found["detail"]
    allowing = [v for v, rule in RULES["data"].items() if rule["claims"]]  # other data still allows claims
    allowed = [f"cifar10 ({v}), test split" for v in allowing]
    assert status(values, check, datasets=allowed, models=models) == claims.HOLDS


def test_a_check_kind_or_option_the_registry_misspells_stops_the_run():
    def load(claim):
        config = copy.deepcopy(CONFIG)
        config["overrides"] = {"lyu2015": {"claims": {"table7_error_falls_with_lambda": claim}}}
        return registry.load(config, REPO)

    with pytest.raises(registry.ConfigError, match=r"unknown claim check 'monotonic' \(did you mean 'monotone'\?\)"):
        load({"check": {"kind": "monotonic"}})
    with pytest.raises(registry.ConfigError, match=r"'sideways' at direction is not allowed.*claims -> table7"):
        load({"check": {"direction": "sideways"}})
    with pytest.raises(registry.ConfigError, match=r"unknown table 'table77' at claims -> table7_error_falls_with"):
        load({"table": "table77"})


def paper_table(paper: str, name: str) -> tablefiles.WrittenTable:
    """A table of `paper` whose values of ours are the paper's printed ones (registry reference)."""
    values = PAPERS[paper]["tables"][name].get("reference", {}).get("values", {})
    models = {m: e["dataset"] for m, e in PAPERS[paper]["models"].items()}
    return written(values, name=name, models=models)


@pytest.mark.parametrize("paper", sorted(paper for paper, entries in PAPERS.items() if "claims" in entries))
def test_no_shipped_claim_fails_on_the_papers_own_numbers(paper):
    """A sanity check of how the claims are written (a wrong direction, row or column), not of our results."""
    tables = {name: paper_table(paper, name) for name in PAPERS[paper]["tables"]}
    verdicts = claims.evaluate_all(paper, PAPERS[paper]["claims"], tables, RULES["data"])
    assert [v for v in verdicts if v["status"] == claims.FAILS] == []
    assert any(v["status"] == claims.HOLDS for v in verdicts)


@pytest.mark.parametrize("paper, claim, row, column, scale", [
    ("lyu2015", "table7_error_falls_with_lambda", "softmax_wd1", "0.3", 10.0),  # λ=1 errs most under noise 0.3
    ("shaham2015", "a_mnist_robust_above_baseline", "robust_l1", "A-mnist", 0.0),  # a robust net at zero
    ("tanay2016", "dadv_grows_with_lambda", "3v7", "dadv lambda=0.1", 100.0),  # d_adv largest at λ = 0.1
])
def test_an_issue_claim_fails_when_one_of_the_papers_numbers_is_broken(paper, claim, row, column, scale):
    spec = PAPERS[paper]["claims"][claim]
    table = paper_table(paper, spec["table"])
    assert claims.evaluate(paper, claim, spec, {spec["table"]: table}, {})["status"] == claims.HOLDS
    broken = table.long["row"].eq(row) & table.long["column"].eq(column)
    table.long.loc[broken, "ours"] *= scale
    assert claims.evaluate(paper, claim, spec, {spec["table"]: table}, {})["status"] == claims.FAILS


def test_lenet_high_weight_decay_claims_larger_perturbation_norms():
    """The paper prints no norms: made-up ones that agree, then ones that break it."""
    spec = PAPERS["tanay2016"]["claims"]["lenet_high_larger_perturbations"]
    norms = lambda low, high: {"lenet_norms": written({"lenet_low": {"mean": low}, "lenet_high": {"mean": high}},
                                                      name="lenet_norms")}
    spec = {**spec, "table": "lenet_norms"}
    assert claims.evaluate("tanay2016", "c", spec, norms(1.0, 2.0), {})["status"] == claims.HOLDS
    assert claims.evaluate("tanay2016", "c", spec, norms(2.0, 1.0), {})["status"] == claims.FAILS
    assert claims.evaluate("tanay2016", "c", spec, norms(2.0, 2.0), {})["status"] == claims.FAILS


def test_the_detail_tells_two_close_values_apart():
    check = {"kind": "rows_compare", "rows": ["b"], "than": "a", "relation": "above"}
    found = verdict({"a": {"x": 987.0001}, "b": {"x": 987.0002}}, check)
    assert found["status"] == claims.HOLDS and "987.0002 > a [x] 987.0001" in found["detail"]
