"""The experiment registry: global config + scale overlay + one YAML per paper, validated.

Validation uses the JSON Schemas in workflow/schemas/; any problem stops the run with one
message naming the file, the key and the allowed values.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path

import jsonschema
import yaml


class ConfigError(ValueError):
    """The configuration or a registry is invalid; the message says where and what is allowed."""


def _describe(error: jsonschema.ValidationError, source: str) -> str:
    where = " -> ".join(str(p) for p in error.absolute_path) or "(top level)"
    schema = error.schema
    if error.validator == "additionalProperties" and "properties" in schema:
        allowed = sorted(schema["properties"])
        unknown = sorted(set(error.instance) - set(allowed))
        hints = [f"{u!r} (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(u, allowed, 1)) else repr(u)
                 for u in unknown]
        return f"{source}: unknown key {', '.join(hints)} at {where}; allowed keys: {', '.join(allowed)}"
    if error.validator == "enum":
        return f"{source}: {error.instance!r} at {where} is not allowed; allowed values: {', '.join(map(repr, error.validator_value))}"
    if error.validator == "propertyNames":
        return f"{source}: unknown key {error.instance!r} at {where}; allowed keys: {', '.join(map(repr, error.validator_value.get('enum', [])))}"
    if error.validator == "required":
        return f"{source}: {error.message} at {where}"
    if error.validator == "type":
        return f"{source}: {error.instance!r} at {where} has the wrong type; expected {error.validator_value}"
    return f"{source}: {error.message} at {where}"


def validate(data: dict, schema_path: Path, source: str) -> None:
    """Raise ConfigError listing every violation of the schema (one line each)."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.validator))
    if errors:
        # deepest error first for oneOf/anyOf, one line per violation
        raise ConfigError("\n".join(dict.fromkeys(_describe(e, source) for e in errors)))


def deep_merge(base: dict, overlay: dict) -> dict:
    """A copy of base with overlay merged in, recursively for nested dicts."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load(config: dict, root: str | Path) -> dict[str, dict]:
    """Validate the global config and load every paper registry it names, overrides applied.

    Returns {paper key: registry dict}.
    """
    root = Path(root)
    schemas = root / "workflow" / "schemas"
    validate(config, schemas / "config.schema.yaml", "config (config/config.yaml + --configfile/--config)")
    papers = {}
    for key in config["papers"]:
        path = root / "config" / "papers" / f"{key}.yaml"
        registry = deep_merge(yaml.safe_load(path.read_text()), config["overrides"].get(key, {}))
        validate(registry, schemas / "paper.schema.yaml", f"config/papers/{key}.yaml")
        _check_references(registry, f"config/papers/{key}.yaml")
        papers[key] = registry
    return papers


def _check_references(registry: dict, source: str) -> None:
    """Every model and evaluation an artifact names must exist in the registry."""
    for group in ("tables", "figures"):
        for name, artifact in registry[group].items():
            for field, known in (("models", registry["models"]), ("evaluations", registry["evaluations"])):
                for ref in artifact.get(field, []):
                    if ref not in known:
                        raise ConfigError(
                            f"{source}: {group} -> {name} -> {field} names {ref!r}, which is not defined; "
                            f"allowed: {', '.join(sorted(known))}"
                        )
    for name, evaluation in registry["evaluations"].items():
        if "source" in evaluation and evaluation["source"] not in registry["models"]:
            raise ConfigError(f"{source}: evaluations -> {name} -> source names {evaluation['source']!r}, which is "
                              f"not defined; allowed: {', '.join(sorted(registry['models']))}")
    sets = registry.get("adversarial_sets", {})
    for name, entry in sets.items():
        if entry["model"] not in registry["models"]:
            raise ConfigError(f"{source}: adversarial_sets -> {name} -> model names {entry['model']!r}, which is not "
                              f"defined; allowed: {', '.join(sorted(registry['models']))}")
    for name, spec in registry["evaluations"].items():
        uses_set = spec["split"] == "adversarial_set"
        if uses_set != ("set" in spec) or (uses_set and spec["set"] not in sets):
            raise ConfigError(f"{source}: evaluations -> {name}: split adversarial_set goes with `set`, a key of "
                              f"adversarial_sets; allowed: {', '.join(sorted(sets)) or 'none defined'}")


def _cap(value: int | None, limit: int | None) -> int | None:
    """min(value, limit), where None means no bound."""
    return value if limit is None else limit if value is None else min(value, limit)


def model_spec(config: dict, registry: dict, model: str) -> dict:
    """The model's registry entry with the scale's limits applied (epochs of each stage, training examples)."""
    spec = copy.deepcopy(registry["models"][model])
    training, limits = spec["training"], config["limits"]
    training["epochs"] = _cap(training["epochs"], limits["max_epochs"])
    if "continue_max_epochs" in training.get("protocol", {}):
        training["protocol"]["continue_max_epochs"] = _cap(training["protocol"]["continue_max_epochs"],
                                                           limits["max_epochs"])
    spec["train_examples"] = _cap(spec.get("train_examples"), limits["train_examples"])
    spec.setdefault("options", {})
    return spec


def evaluation_spec(config: dict, registry: dict, evaluation: str, model: str) -> dict:
    """The evaluation of `model` with the scale's limits applied (examples, noise draws).

    Training-split evaluations (split "train", or "validation": the held-out tail of the model's
    training examples) see exactly the examples the model was given; test ones are capped by
    limits.eval_examples.
    """
    spec = copy.deepcopy(registry["evaluations"][evaluation])
    if "draws" in spec:
        spec["draws"] = _cap(spec["draws"], config["limits"]["max_draws"])
    if spec["split"] in ("test", "adversarial_set"):  # a set is built from the capped test split
        spec["examples"] = config["limits"]["eval_examples"]
    else:
        spec["examples"] = model_spec(config, registry, model)["train_examples"]
    spec.setdefault("seed", 0)
    spec.setdefault("weights", "final")
    if "source" in spec:  # the model an attack crafts its examples on
        spec["source_spec"] = model_spec(config, registry, spec["source"])
    return spec
