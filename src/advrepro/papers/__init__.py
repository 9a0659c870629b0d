"""Paper-specific assembly of tables and figures from evaluation results."""

from __future__ import annotations

import importlib
from types import ModuleType

from advrepro.io import read_json
from advrepro.provenance import config_hash


def module(key: str) -> ModuleType:
    """advrepro.papers.<key>, the builders of one paper."""
    return importlib.import_module(f"advrepro.papers.{key}")


def builder(key: str, name: str):
    """The builder function `name` of paper `key`; unknown names fail with the allowed ones."""
    mod = module(key)
    if name not in mod.BUILDERS:
        raise ValueError(f"unknown builder {name!r} for {key}; allowed: {', '.join(sorted(mod.BUILDERS))}")
    return mod.BUILDERS[name]


def _describe_data(result: dict) -> str:
    """e.g. "cifar10 (synthetic-standin) + gcn_zca, test split"."""
    meta = result["dataset"]
    preprocessing = f" + {meta['preprocessing']['kind']}" if "preprocessing" in meta else ""
    return f"{meta['name']} ({meta['variant']}){preprocessing}, {result['spec']['split']} split"


class ArtifactInputs:
    """What a builder reads: evaluation results by (model, evaluation), the registry entries of
    the models (labels, objectives), a dataset path."""

    def __init__(self, results: dict, models: dict, dataset: str | None = None):
        self.results, self.models, self.dataset = results, models, dataset
        self.labels = {name: entry["label"] for name, entry in models.items()}
        self.records = {}  # model -> training record (provenance.json), for artifacts with `records: true`

    @classmethod
    def load(cls, paths: list[str], models: dict, dataset: str | None = None) -> "ArtifactInputs":
        """Read evaluation result files, keyed by the (model, evaluation) each names."""
        return cls({(r["model"], r["evaluation"]): r for r in map(read_json, paths)}, models, dataset)

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
