"""Every kind a registry entry can name, registered by importing the modules that define them, and the check
of a paper registry's names and options against the registered signatures (advrepro.kinds): models, evaluations,
builders, and the checks of its claims (advrepro.claims)."""

from __future__ import annotations

from advrepro import claims, data, evaluate, models, objectives, papers, preprocessing, training
from advrepro.kinds import Kinds

evaluate.register_generic()


def evaluation_module(kind: str) -> str:
    """The module that registered evaluation kind `kind` (generic: advrepro.evaluate or one of its
    GENERIC_MODULES; else a paper's)."""
    return evaluate.EVALUATIONS.lookup(kind).__module__


def kind_modules(kind: str) -> list[str]:
    """The module of evaluation kind `kind` when the evaluate script imports it by name (a paper's, or a
    generic module beside advrepro.evaluate): an input of the kind's jobs beside the script's own imports."""
    owner = evaluation_module(kind)
    return [] if owner == evaluate.__name__ else [owner]


def _kind_problems(kinds: Kinds, spec: dict, key: str, where: str) -> list[str]:
    """Problems of a registry block {key: name, **options} chosen from `kinds`."""
    options = {k: v for k, v in spec.items() if k != key}
    return [f"{problem} at {where}" for problem in kinds.problems(spec[key], options)]


def _dataset_problems(dataset: str, where: str) -> list[str]:
    raw, _, kind = dataset.partition("_")
    table, name = (preprocessing.PREPROCESSING, kind) if raw in data.DATASETS else (data.DATASETS, raw)
    return [] if name in table or not name else [f"{p} at {where}" for p in table.problems(name, {})]


def model_problems(name: str, entry: dict) -> list[str]:
    """What is wrong with a model entry's dataset, architecture and training kinds (their names and options)."""
    where, training_spec = f"models -> {name}", entry["training"]
    found = _dataset_problems(entry["dataset"], f"{where} -> dataset")
    found += _kind_problems(models.ARCHITECTURES, {"architecture": entry["architecture"], **entry.get("options", {})},
                            "architecture", f"{where} -> architecture/options")
    found += _kind_problems(objectives.OBJECTIVES, training_spec["objective"], "name", f"{where} -> training -> objective")
    for block, kinds in (("optimizer", training.OPTIMIZERS), ("lr_schedule", training.SCHEDULES),
                         ("protocol", training.PROTOCOLS)):
        if block in training_spec:
            found += _kind_problems(kinds, training_spec[block], "kind", f"{where} -> training -> {block}")
    return found


def claim_problems(entries: dict) -> list[str]:
    """What is wrong with a registry's claims: a table it does not define, a check's kind or options."""
    found = []
    for name, claim in entries.get("claims", {}).items():
        where = f"claims -> {name}"
        if claim["table"] not in entries["tables"]:
            found.append(f"unknown table {claim['table']!r} at {where} -> table; "
                         f"allowed: {', '.join(entries['tables'])}")
        found += _kind_problems(claims.CHECKS, claim["check"], "kind", f"{where} -> check")
    return found


def problems(key: str, entries: dict) -> list[str]:
    """Every name and option of paper `key`'s registry `entries` that no registered kind takes, one message each."""
    module = papers.module(key)
    found = [p for name, entry in entries["models"].items() for p in model_problems(name, entry)]
    for name, spec in entries["evaluations"].items():
        found += [f"{p} at evaluations -> {name}"
                  for p in evaluate.EVALUATIONS.problems(spec["kind"], evaluate.options_of(spec))]
        owners = (evaluate.__name__, *evaluate.GENERIC_MODULES, module.__name__)
        if spec["kind"] in evaluate.EVALUATIONS and evaluation_module(spec["kind"]) not in owners:
            found.append(f"evaluation kind {spec['kind']!r} belongs to {evaluation_module(spec['kind'])}, not to "
                         f"{key} or the generic ones, at evaluations -> {name}")
    allowed = papers.builders_of(key)
    for group in ("tables", "figures"):
        for name, artifact in entries[group].items():
            if artifact["builder"] not in allowed:
                found.append(f"unknown builder {artifact['builder']!r} at {group} -> {name}; allowed: {', '.join(allowed)}")
    return found + claim_problems(entries)
