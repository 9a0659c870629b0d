"""A written comparison table read back (results/tables/<paper>/<table>.csv and .json, see advrepro.tables):
its long rows, its metadata and the dataset variants each row rests on, for the scorecard and the claims."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from advrepro.io import read_json

# a table's JSON names each dataset it read as "<raw name> (<variant>)[ + <preprocessing>], <split> split"
# (advrepro.papers.ArtifactInputs.metadata), e.g. "cifar10 (synthetic-standin) + gcn_zca, test split"
_DATASET = re.compile(r"^(?P<name>\S+) \((?P<variant>[^)]*)\)")


def raw_dataset(name: str) -> str:
    """The raw dataset of a registry dataset name: "cifar10_gcn_zca" -> "cifar10" (advrepro.catalog's reading)."""
    return name.partition("_")[0]


@dataclass(frozen=True)
class WrittenTable:
    """One table as written: `long` (row, row_label, column, ours, ours_sem, paper, difference), `meta` (its
    JSON) and `row_datasets` (registry model -> its raw dataset; a row that is no model has none)."""

    name: str
    long: pd.DataFrame
    meta: dict
    row_datasets: dict

    def variants(self, row: str) -> set[str]:
        """The variants of the data row `row` rests on: those of its model's raw dataset, or of every dataset the
        table read when the row is no model (a mean over seeds, an SVM digit pair)."""
        found = [m.group("name", "variant") for m in map(_DATASET.match, self.meta.get("datasets", [])) if m]
        raw = self.row_datasets.get(row)
        return {variant for name, variant in found if raw is None or name == raw}

    def ours(self, row: str, column: str) -> float:
        """Our value at (row, column); NaN where the table has none."""
        match = self.long[(self.long["row"] == row) & (self.long["column"] == column)]
        return float(match["ours"].iloc[0]) if len(match) else math.nan

    def label(self, row: str, default: str | None = None) -> str:
        """The row's label as the table prints it (else `default`, else the row's key)."""
        match = self.long.loc[self.long["row"] == row, "row_label"]
        return str(match.iloc[0]) if len(match) else default or row


def read(csv: str | Path, model_datasets: dict) -> WrittenTable:
    """The table written at `csv` (with its JSON beside it); `model_datasets` maps registry models to their
    dataset names (e.g. {"cifar_maxout": "cifar10_gcn_zca"})."""
    csv = Path(csv)
    long = pd.read_csv(csv, dtype={"row": str, "row_label": str, "column": str})
    rows = {model: raw_dataset(dataset) for model, dataset in model_datasets.items()}
    return WrittenTable(csv.stem, long, read_json(csv.with_suffix(".json")), rows)
