"""The scorecard (issue 15) on fabricated tables: every status, the comparability rule, the kinds' declaration.

Tolerances are read from config/fidelity.yaml, never typed here; the numbers are made up."""

import math
import shutil

import pandas as pd
import pytest
import yaml

from advrepro import registry, scorecard, tablefiles
from conftest import REPO

RULES = scorecard.read_rules(REPO / registry.FIDELITY)
MNIST = "mnist (official), test split"
SYNTHETIC_CIFAR = "cifar10 (synthetic-standin) + gcn_zca, test split"
MODELS = {"net": "mnist", "cifar_net": "cifar10_gcn_zca"}


def written(values: dict, datasets=(MNIST,), name="t1") -> tablefiles.WrittenTable:
    """A written table with our `values` {(row, column): value}, as make_table writes it."""
    long = pd.DataFrame([(row, f"label of {row}", column, value, math.nan, math.nan, math.nan)
                         for (row, column), value in values.items()],
                        columns=["row", "row_label", "column", "ours", "ours_sem", "paper", "difference"])
    return tablefiles.WrittenTable(name, long, {"datasets": list(datasets)},
                                   {m: tablefiles.raw_dataset(d) for m, d in MODELS.items()})


def artifact(printed: dict, **spec) -> dict:
    """A registry table entry printing `printed` {row: {column: value}} with scorecard block `spec`."""
    return {"reference": {"source": "made up", "unit": "%", "values": printed}, "scorecard": spec}


def score_one(ours, printed, kind="mnist_error", scale="paper", datasets=(MNIST,), row="net", **spec):
    table = written({} if ours is None else {(row, "c"): ours}, datasets)
    entry = artifact({row: {"c": printed}}, kind=kind, **spec)
    [record] = scorecard.score_table("p", table, entry, {"rules": RULES, "scale": scale, "labels": {}})
    return record


def absolute(kind):
    return RULES["tolerances"][kind]["absolute"]


def relative(kind):
    return RULES["tolerances"][kind]["relative"]


def test_an_absolute_tolerance_puts_a_number_within_or_outside():
    tol = absolute("mnist_error")
    assert score_one(1.0 + tol / 2, 1.0)["status"] == scorecard.WITHIN
    assert score_one(1.0 - tol, 1.0)["status"] == scorecard.WITHIN  # the edge counts as within
    assert score_one(1.0 + 2 * tol, 1.0)["status"] == scorecard.OUTSIDE
    assert score_one(1.0 - 2 * tol, 1.0)["status"] == scorecard.OUTSIDE


def test_a_relative_tolerance_scales_with_the_printed_number():
    tol = relative("min_perturbation")
    assert score_one(2.0 * (1 + tol / 2), 2.0, kind="min_perturbation")["status"] == scorecard.WITHIN
    assert score_one(2.0 * (1 + 2 * tol), 2.0, kind="min_perturbation")["status"] == scorecard.OUTSIDE
    # the same absolute gap is within for a large printed number and outside for a small one
    gap = 10.0 * tol / 2
    assert score_one(10.0 + gap, 10.0, kind="min_perturbation")["status"] == scorecard.WITHIN
    assert score_one(1.0 + gap, 1.0, kind="min_perturbation")["status"] == scorecard.OUTSIDE


def test_a_reduced_scale_is_not_comparable_unless_the_table_says_its_setting_is_the_papers():
    record = score_one(1.0, 1.0, scale="smoke")
    assert record["status"] == scorecard.NOT_COMPARABLE and record["reason"] == "smoke scale"
    assert record["difference"] == 0.0  # still shown with its difference
    assert score_one(1.0, 1.0, scale="quick")["status"] == scorecard.NOT_COMPARABLE
    assert score_one(1.0, 1.0, scale="quick", comparable_at=["quick"])["status"] == scorecard.WITHIN
    assert score_one(1.0, 1.0, scale="smoke", comparable_at=["quick"])["status"] == scorecard.NOT_COMPARABLE


def test_numbers_on_synthetic_cifar10_are_never_compared_even_at_paper_scale():
    both = (SYNTHETIC_CIFAR, MNIST)
    record = score_one(12.0, 12.0, kind="cifar_error", datasets=both, row="cifar_net")
    assert record["status"] == scorecard.NOT_COMPARABLE
    assert record["reason"] == RULES["data"]["synthetic-standin"]["label"]
    assert score_one(1.0, 1.0, datasets=both, row="net")["status"] == scorecard.WITHIN  # its row reads MNIST only
    # a row that is no model (a mean, a digit pair) rests on every dataset its table read
    assert score_one(1.0, 1.0, datasets=both, row="mean_of_seeds")["status"] == scorecard.NOT_COMPARABLE


def test_every_data_variant_the_rules_exclude_blocks_the_comparison():
    for variant, rule in RULES["data"].items():
        record = score_one(1.0, 1.0, datasets=(f"mnist ({variant}), test split",))
        assert record["status"] == scorecard.NOT_COMPARABLE and rule["label"] in record["reason"]


def test_a_printed_number_we_have_no_value_for_is_not_comparable():
    for ours in (None, math.nan):  # the row is not in our table (a reduced scale drops it), or its value is NaN
        record = score_one(ours, 1.0)
        assert record["status"] == scorecard.NOT_COMPARABLE and record["reason"] == "no value of ours"


def test_each_column_gets_its_own_kind_and_cited_rows_are_not_scored():
    table = written({("net", "clean"): 1.0, ("net", "attacked"): 50.0, ("net", "size"): 100.0})
    entry = artifact({"net": {"clean": 1.0 + 2 * absolute("mnist_error"), "attacked": 50.0 + absolute("attack") / 2,
                              "size": 100.0}},
                     kind="mnist_error", columns={"attacked": "attack", "size": "set_size"})
    entry["reference"]["cited"] = {"other": {"label": "Other", "source": "elsewhere", "values": {"clean": 0.5}}}
    records = scorecard.score("p", {"t1": table}, {"t1": entry, "no_reference": {}},
                              {"rules": RULES, "scale": "paper", "labels": {}})
    assert [(r["column"], r["kind"], r["status"]) for r in records] == [
        ("clean", "mnist_error", scorecard.OUTSIDE), ("attacked", "attack", scorecard.WITHIN),
        ("size", "set_size", scorecard.WITHIN)]
    assert scorecard.counts(records, scorecard.STATUSES) == {"within": 2, "outside": 1, "not comparable": 0}
    assert {r["row"] for r in records} == {"net"}


def test_the_table_json_names_the_variant_of_each_dataset():
    table = written({}, datasets=("mnist (offline-prefix-14262) + standardize_pad32, test split", SYNTHETIC_CIFAR))
    assert table.variants("net") == {"offline-prefix-14262"}
    assert table.variants("cifar_net") == {"synthetic-standin"}
    assert table.variants("3v7") == {"offline-prefix-14262", "synthetic-standin"}


def test_a_table_without_a_kind_for_a_printed_column_or_with_an_unknown_kind_is_refused():
    printed = {"net": {"clean": 1.0, "attacked": 2.0}}
    assert scorecard.problems({"t1": artifact(printed, kind="mnist_error")}, RULES) == []
    [missing] = scorecard.problems({"t1": artifact(printed, columns={"clean": "mnist_error"})}, RULES)
    assert "tables -> t1 prints 'attacked'" in missing and "scorecard" in missing
    [unknown] = scorecard.problems({"t1": artifact(printed, kind="mnist_eror")}, RULES)
    assert "unknown kind 'mnist_eror'" in unknown and "mnist_error" in unknown


def test_the_registry_check_refuses_an_unknown_kind_naming_the_file():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["overrides"] = {"lyu2015": {"tables": {"table7": {"scorecard": {"kind": "mnist_eror"}}}}}
    with pytest.raises(registry.ConfigError, match=r"lyu2015.yaml\): unknown kind 'mnist_eror' at tables -> table7"):
        registry.load(config, REPO)


def test_a_tolerance_without_its_reason_or_with_two_sizes_names_the_rules_file(tmp_path):
    (tmp_path / "config").mkdir()
    shutil.copytree(REPO / "workflow" / "schemas", tmp_path / "workflow" / "schemas")
    rules = yaml.safe_load((REPO / registry.FIDELITY).read_text())
    del rules["tolerances"]["mnist_error"]["reason"]
    rules["tolerances"]["cifar_error"]["relative"] = 0.1
    (tmp_path / registry.FIDELITY).write_text(yaml.safe_dump(rules))
    with pytest.raises(registry.ConfigError) as error:
        registry.load_fidelity(tmp_path)
    message = str(error.value)
    assert "config/fidelity.yaml" in message and "'reason' is a required property" in message
    assert "tolerances -> cifar_error" in message


def test_tolerances_read_as_the_report_prints_them():
    texts = {t["kind"]: t["tolerance"] for t in scorecard.legend(RULES)}
    assert texts["mnist_error"] == f"±{absolute('mnist_error'):g} pp"
    assert texts["min_perturbation"] == f"±{relative('min_perturbation'):.0%}"
    assert all(t["reason"] for t in scorecard.legend(RULES))
