"""What is specific to each paper, one module per paper (advrepro.papers.<key>): how its tables and figures
are assembled from results (builders, registered in BUILDERS) and the evaluation kinds only it uses.

A builder is (artifact: its registry entry, inputs: ArtifactInputs) -> a long table (tables; see
`long_table`) or a matplotlib figure (figures). A registry names builders of its own module or of
advrepro.papers.shared.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import pandas as pd

from advrepro.io import read_json
from advrepro.kinds import Kinds
from advrepro.provenance import config_hash
from advrepro.tables import LONG_COLUMNS

BUILDERS = Kinds("table or figure builder", fixed=("artifact", "inputs"))
SHARED = "advrepro.papers.shared"


def module(key: str) -> ModuleType:
    """advrepro.papers.<key>, the builders and evaluation kinds of one paper (importing it registers them)."""
    importlib.import_module(SHARED)
    return importlib.import_module(f"advrepro.papers.{key}")


def builders_of(key: str) -> list[str]:
    """The builders a registry of paper `key` may name: its module's and the shared ones."""
    owners = (module(key).__name__, SHARED)
    return sorted(name for name, function in BUILDERS.items() if function.__module__ in owners)


def builder(key: str, name: str):
    """The builder `name` for paper `key` (its own or a shared one); other names fail with the allowed ones."""
    if name not in builders_of(key):
        raise ValueError(f"unknown builder {name!r} for {key}; allowed: {', '.join(builders_of(key))}")
    return BUILDERS[name]


def long_table(rows: list[tuple]) -> pd.DataFrame:
    """A table builder's result: one row per (row, row_label, column, ours, ours_sem), ours_sem NaN if none."""
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def _describe_data(result: dict) -> str:
    """e.g. "cifar10 (synthetic-standin) + gcn_zca, test split"."""
    meta = result["dataset"]
    preprocessing = f" + {meta['preprocessing']['kind']}" if "preprocessing" in meta else ""
    return f"{meta['name']} ({meta['variant']}){preprocessing}, {result['spec']['split']} split"


class ArtifactInputs:
    """What a builder reads: evaluation results by (model, evaluation), the registry entries of
    the models (labels, objectives), a dataset path, and training records by model (optional)."""

    def __init__(self, results: dict, models: dict, dataset: str | None = None, records: dict | None = None):
        self.results, self.models, self.dataset, self.records = results, models, dataset, records or {}
        self.labels = {name: entry["label"] for name, entry in models.items()}

    @classmethod
    def load(cls, paths: list[str], models: dict, dataset: str | None = None,
             records: list[str] | None = None) -> "ArtifactInputs":
        """Read evaluation result files, keyed by the (model, evaluation) each names, and the models'
        provenance files (their training records, keyed by model)."""
        trained = {r["model"]: r["training"] for r in map(read_json, records or [])}
        return cls({(r["model"], r["evaluation"]): r for r in map(read_json, paths)}, models, dataset, trained)

    def result(self, model: str, evaluation: str) -> dict:
        return self.results[(model, evaluation)]

    def metadata(self, paper: str, name: str, kind: str, artifact: dict, scale: str) -> dict:
        """What the report shows beside an artifact: title, scale, config hash, input provenance, data."""
        return {
            "paper": paper, "artifact": name, "kind": kind, "title": artifact["title"], "scale": scale,
            "config_hash": config_hash(artifact),
            "inputs": {f"{m}/{e}": r["provenance"] for (m, e), r in self.results.items()},
            "datasets": sorted({_describe_data(r) for r in self.results.values()}),
        }
