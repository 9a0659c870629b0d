import math

import pandas as pd

from advrepro import tables

LONG = pd.DataFrame([("m1", "Model 1", "test error", 1.0, math.nan)], columns=tables.LONG_COLUMNS)
REFERENCE = {"source": "Table I", "unit": "%", "values": {"m1": {"test error": 0.9}},
             "cited": {"dbm": {"label": "DBM", "source": "Hinton et al. 2012", "values": {"test error": 0.79}}}}


def test_compare_adds_the_paper_value_and_the_difference():
    table = tables.compare(LONG, REFERENCE)
    row = table[table["row"] == "m1"].iloc[0]
    assert row["paper"] == 0.9 and math.isclose(row["difference"], 0.1)


def test_cited_rows_show_the_paper_value_marked_cited_and_nothing_of_ours():
    table = tables.compare(LONG, REFERENCE)
    cited = table[table["row"] == "dbm"].iloc[0]
    assert cited["row_label"] == "DBM (cited: Hinton et al. 2012)" and cited["paper"] == 0.79
    assert math.isnan(cited["ours"]) and math.isnan(cited["difference"])
    wide = tables.wide(table, 2)
    assert wide.loc["DBM (cited: Hinton et al. 2012)", ("test error", "ours")] == ""


def test_a_column_the_paper_printed_nothing_for_keeps_only_ours():
    long = pd.DataFrame([("m1", "Model 1", "test error", 1.0, math.nan), ("m1", "Model 1", "beyond", 2.0, math.nan)],
                        columns=tables.LONG_COLUMNS)
    wide = tables.wide(tables.compare(long, REFERENCE), 2)
    assert list(wide.columns) == [("test error", "paper"), ("test error", "ours"), ("test error", "Δ"), ("beyond", "ours")]


def test_the_latex_table_escapes_labels_and_columns(tmp_path):
    """A label such as 'cifar10_old_small.yaml' or '5% & more' is text, not LaTeX (it stopped the PDF)."""
    long = pd.DataFrame([{"row_label": "Conv (cifar10_old_small.yaml; 5% & #1)", "column": "error_rate", "ours": 1.0,
                          "ours_sem": math.nan, "paper": 2.0, "difference": -1.0}])
    paths = {kind: str(tmp_path / f"t.{kind}") for kind in ("csv", "tex", "html", "json")}
    tables.write(long, {"unit": "%"}, **paths)
    latex = (tmp_path / "t.tex").read_text()
    assert r"Conv (cifar10\_old\_small.yaml; 5\% \& \#1)" in latex and r"error\_rate" in latex
