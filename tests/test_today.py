"""The cross-paper artifacts of config/papers/today.yaml (advrepro.papers.today): failing masking checks are
named in a model's rows, and each claim gets a verdict per attack."""

import math

import pytest

from advrepro.papers import ArtifactInputs, today

TOLERANCES = {"one_step": 1.0, "large_eps": 1.0, "black_box": 0.5, "converged": 2.0}
LINF = {"p": math.inf, "eps": 0.3, "units": "pixels"}
L2 = {"p": 2, "eps": 2.0, "units": "input"}


def _pgd(clean, one_step, pgd, more, large, threats=(LINF,)):
    rows = [{**t, "clean": clean, "one_step": one_step, "pgd": pgd, "pgd_more_steps": more} for t in threats]
    return {"threats": rows, "curve": [], "large": {**LINF, "eps": 1.0, "pgd": large}}


def _autoattack(error, square, threats=(LINF,)):
    return {"threats": [{**t, "error": error, "square_beyond_white_box": square} for t in threats], "curve": []}


def _inputs(results: dict) -> ArtifactInputs:
    models = {name: {"label": name.split("/")[-1].title()} for name in {m for m, _ in results}}
    return ArtifactInputs(results, models)


def _distance(line_search, minimal):
    return {"line_search_median": line_search, "minimal_median": minimal}


def test_a_masking_model_is_flagged_in_its_rows_and_an_honest_one_is_not():
    inputs = _inputs({
        ("lyu2015/maxout", "pgd"): _pgd(0.01, 0.60, 0.90, 0.905, 1.0, threats=(LINF, L2)),
        ("lyu2015/maxout", "autoattack"): _autoattack(0.92, 0.0, threats=(LINF, L2)),
        ("lyu2015/maxout", "min_distance"): _distance(1.5, 1.2),
        ("masked", "pgd"): _pgd(0.05, 0.05, 0.05, 0.05, 0.55),
        ("masked", "autoattack"): _autoattack(0.80, 0.70),
        ("masked", "min_distance"): _distance(math.inf, 0.4),
    })
    artifact = {"models": ["lyu2015/maxout", "masked"], "evaluations": ["pgd", "autoattack", "min_distance"],
                "options": {"tolerances": TOLERANCES}}
    table = today.robustness_table(artifact, inputs)
    honest = table[table["row"].str.startswith("lyu2015/maxout")]
    assert honest["row_label"].str.contains("lyu2015: Maxout").all() and honest["row_label"].str.endswith("checks ✓").all()
    assert set(honest[honest["column"] == "checks held"]["ours"]) == {4.0}
    distances = honest[honest["column"] == "median l2 distance, FAB"]["ours"].tolist()
    assert distances[0] == 1.2 and math.isnan(distances[1])  # once per model
    masked = table[table["row"].str.startswith("masked")]
    assert masked["row_label"].str.contains("⚠ not 100% at large ε, Square beats white-box").all()
    assert masked[masked["column"] == "checks held"]["ours"].tolist() == [2.0]
    checks = today.masking_table({**artifact, "evaluations": ["pgd", "autoattack"]}, inputs)
    assert checks[(checks["row"] == "masked l∞ ε=0.3 px") & (checks["column"] == "found only by Square (pp)")]["ours"].item() == 70


def test_each_claim_gets_a_verdict_per_attack_or_says_it_was_not_run():
    inputs = _inputs({
        ("goodfellow2014/maxout", "pgd"): _pgd(0.01, 0.89, 0.99, 0.99, 1.0),
        ("goodfellow2014/maxout", "autoattack"): _autoattack(1.0, 0.0),
        ("goodfellow2014/maxout_adv", "pgd"): _pgd(0.01, 0.20, 0.99, 0.99, 1.0),
        ("goodfellow2014/maxout_adv", "autoattack"): _autoattack(1.0, 0.0),
    })
    claims = {"advtrain": {"label": "adversarial training helps", "better": "goodfellow2014/maxout_adv",
                           "worse": "goodfellow2014/maxout", "threat": {"p": math.inf, "eps": 0.3}},
              "absent": {"label": "a claim about other models", "better": "lyu2015/a", "worse": "lyu2015/b",
                         "measure": "distance"}}
    artifact = {"models": ["goodfellow2014/maxout", "goodfellow2014/maxout_adv"],
                "evaluations": ["pgd", "autoattack", "min_distance"], "options": {"claims": claims}}
    table = today.claims_table(artifact, inputs)
    advtrain = table[table["row"] == "advtrain"]
    assert dict(zip(advtrain["column"], advtrain["ours"])) == pytest.approx({"one-step (pp)": 69, "PGD (pp)": 0,
                                                                            "AutoAttack (pp)": 0})
    assert advtrain["row_label"].iloc[0].endswith("at l∞ ε=0.3 px · one-step ✓, PGD ✗, AutoAttack ✗")
    assert table[table["row"] == "absent"]["row_label"].item() == "a claim about other models · not run at this scale"


def test_a_distance_claim_compares_median_minimal_distances():
    inputs = _inputs({("lyu2015/wd1", "min_distance"): _distance(2.0, 1.0),
                      ("lyu2015/wd0", "min_distance"): _distance(1.0, 1.25)})
    claim = {"label": "weight decay", "better": "lyu2015/wd1", "worse": "lyu2015/wd0", "measure": "distance"}
    values = today.claim_values(claim, inputs, ["pgd", "autoattack", "min_distance"])
    assert values == {"line search (×)": 2.0, "FAB (×)": 0.8}
