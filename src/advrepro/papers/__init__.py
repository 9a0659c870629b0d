"""Paper-specific assembly of tables and figures from evaluation results."""

from __future__ import annotations

import importlib
from types import ModuleType


def module(key: str) -> ModuleType:
    """advrepro.papers.<key>, the builders of one paper."""
    return importlib.import_module(f"advrepro.papers.{key}")


def builder(key: str, name: str):
    """The builder function `name` of paper `key`; unknown names fail with the allowed ones."""
    mod = module(key)
    if name not in mod.BUILDERS:
        raise ValueError(f"unknown builder {name!r} for {key}; allowed: {', '.join(sorted(mod.BUILDERS))}")
    return mod.BUILDERS[name]


class ArtifactInputs:
    """What a builder reads: evaluation results by (model, evaluation), model labels, a dataset path."""

    def __init__(self, results: dict, labels: dict, dataset: str | None = None):
        self.results, self.labels, self.dataset = results, labels, dataset

    def result(self, model: str, evaluation: str) -> dict:
        return self.results[(model, evaluation)]
