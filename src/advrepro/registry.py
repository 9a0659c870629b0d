"""The experiment registry: global config + scale overlay + one YAML per paper, validated.

Validation uses the JSON Schemas in workflow/schemas/; any problem stops the run with one
message naming the file, the key and the allowed values.
"""

from __future__ import annotations

import copy
import difflib
import functools
import shutil
from pathlib import Path

import jsonschema
import yaml


CONFIG_SOURCE = "config (config/config.yaml + --configfile/--config)"
# libyaml's parser where PyYAML was built with it (about 10x faster: every Snakemake run and every SLURM job step
# reads all the registries), else the pure-Python one; both load the same documents.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(ValueError):
    """The configuration or a registry is invalid; the message says where and what is allowed."""


class _StrictLoader(SAFE_LOADER):
    """A safe YAML loader that rejects a key given twice in one mapping (merge keys `<<` aside)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: str | Path, name: str | None = None):
    """A YAML file's content; a syntax error or a duplicate key raises ConfigError naming the file
    (as `name`, default the path), the line and the column."""
    name = name or str(path)
    try:
        return yaml.load(Path(path).read_text(), Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{name}{where}: {error.problem or error}"
                          + (f" ({error.context})" if error.context else "")) from None


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
        hint = ("; a --config value is text unless it reads as YAML (e.g. report_pdf=true, "
                "limits='{max_epochs: 2}'), and nested settings are clearest in a --configfile overlay"
                if isinstance(error.instance, str) and source.startswith(CONFIG_SOURCE) else "")
        return f"{source}: {error.instance!r} at {where} has the wrong type; expected {error.validator_value}{hint}"
    return f"{source}: {error.message} at {where}"


@functools.cache
def _schema(path: Path) -> dict:
    return yaml.load(Path(path).read_text(), Loader=SAFE_LOADER)


def validate(data: dict, schema_path: Path, source: str) -> None:
    """Raise ConfigError listing every violation of the schema (one line each)."""
    schema = _schema(schema_path)
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


def coerce_text(value, schema: dict):
    """`value` with every string the schema does not take as a string read as YAML where that fits it:
    `--config` passes nested values as text (report_pdf=true, limits='{max_epochs: 2}')."""
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        return {k: coerce_text(v, properties[k]) if k in properties else v for k, v in value.items()}
    if not isinstance(value, str) or "string" in _types(schema) or value in schema.get("enum", []):
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return coerce_text(parsed, schema) if isinstance(parsed, dict) else parsed


def _types(schema: dict) -> list:
    kind = schema.get("type", [])
    return [kind] if isinstance(kind, str) else kind


GROUPS = ("models", "evaluations", "tables", "figures", "adversarial_sets", "benchmarks", "claims")
FIDELITY = "config/fidelity.yaml"


def _overrides_source(key: str, configfiles) -> str:
    """Where overrides.<key> came from: the --configfile files that set it, else --config."""
    files = [str(f) for f in configfiles if (read_yaml(f) or {}).get("overrides", {}).get(key)]
    return f"overrides -> {key} in {', '.join(files) or '--config'}"


def _check_override_names(base: dict, overrides: dict, source: str) -> None:
    """An override must name an entry of the registry it overrides (a typo would add a broken entry)."""
    for group in GROUPS:
        for name in overrides.get(group) or {}:
            known = base.get(group, {})
            if name not in known:
                raise ConfigError(f"{source}: unknown {group.removesuffix('s').replace('_', ' ')} {name!r} at "
                                  f"{group}{_hint(name, known)}; known: {', '.join(sorted(known)) or 'none'}")


def load(config: dict, root: str | Path, configfiles=()) -> dict[str, dict]:
    """Validate the global config (after reading its --config text as YAML where it must be) and load
    every paper registry it names (papers: all = every config/papers/<key>.yaml, by year), overrides
    applied; `configfiles` (the --configfile overlays) are checked for duplicate keys and named in errors
    of their overrides. A registry naming other papers' models as <paper>/<model> gets their entries
    (`with_imports`), so those papers must be in the run.

    Returns {paper key: registry dict}; `config` is updated in place with the coerced values.
    """
    root = Path(root)
    schemas = root / "workflow" / "schemas"
    for path in configfiles:
        read_yaml(path)
    config.update(coerce_text(config, _schema(schemas / "config.schema.yaml")))
    validate(config, schemas / "config.schema.yaml", CONFIG_SOURCE)
    available = {path.stem: path for path in sorted((root / "config" / "papers").glob("*.yaml"))}
    for key in [*(() if config["papers"] == "all" else config["papers"]), *config["overrides"]]:
        if key not in available:
            raise ConfigError(f"config: no paper {key!r}{_hint(key, available)}: its registry would be "
                              f"config/papers/{key}.yaml; known: {', '.join(available)}")
    rules = load_fidelity(root)
    bases = {key: read_yaml(available[key], f"config/papers/{key}.yaml")
             for key in (available if config["papers"] == "all" else config["papers"])}
    keys = sorted(bases, key=lambda k: (bases[k]["paper"]["year"], k)) if config["papers"] == "all" else list(bases)
    papers = {}
    for key in sorted(keys, key=lambda k: bool(imported_models(bases[k]))):  # importers after their sources
        name, base = f"config/papers/{key}.yaml", bases[key]
        _check(with_imports(base, papers, key, name), key, schemas, name, rules)
        overrides = config["overrides"].get(key) or {}
        source = f"{_overrides_source(key, configfiles)} (over {name})"
        _check_override_names(base, overrides, source)
        registry = with_imports(deep_merge(base, overrides), papers, key, source)
        if overrides:
            _check(registry, key, schemas, source, rules)
        papers[key] = registry
    return {key: papers[key] for key in keys}


def model_owner(paper: str, model: str) -> tuple[str, str]:
    """(paper, model) that trains a model a registry of `paper` names: <paper>/<model> is another paper's."""
    owner, slash, name = model.partition("/")
    return (owner, name) if slash else (paper, model)


def imported_models(registry: dict) -> list[str]:
    """The other papers' models a registry names as <paper>/<model> in its tables, figures and benchmarks."""
    names = {model for group in ("tables", "figures", "benchmarks") for artifact in (registry.get(group) or {}).values()
             for model in artifact.get("models", []) if "/" in model}
    return sorted(names)


def with_imports(registry: dict, papers: dict, key: str, source: str) -> dict:
    """`registry` (of paper `key`) with the entry of every other paper's model it names, as that paper's run has
    it (overrides applied), under the name <paper>/<model>: evaluated on that paper's trained weights."""
    imported, names = {}, imported_models(registry)
    missing = sorted({model_owner(key, name)[0] for name in names} - set(papers))
    if missing:
        raise ConfigError(f"{source}: it names models of {', '.join(missing)} (e.g. "
                          f"{next(n for n in names if model_owner(key, n)[0] == missing[0])!r}), not in this run; "
                          f"add {', '.join(missing)} to papers (or papers: all)")
    for name in names:
        owner, model = model_owner(key, name)
        if model not in papers[owner]["models"]:
            raise ConfigError(f"{source}: {owner} has no model {model!r}{_hint(model, papers[owner]['models'])}; "
                              f"known: {', '.join(sorted(papers[owner]['models']))}")
        imported[name] = copy.deepcopy(papers[owner]["models"][model])
    return {**registry, "models": {**registry["models"], **imported}} if imported else registry


def check_tools(config: dict, which=shutil.which) -> None:
    """The programs the configuration asks for are installed: latexmk for report_pdf=true (checked at start-up,
    not at the last job)."""
    if config["report_pdf"] is True and not which("latexmk"):
        raise ConfigError("report_pdf=true needs latexmk, which is not installed: install it (Debian/Ubuntu: "
                          "apt-get install latexmk texlive-latex-recommended) or set report_pdf=auto (a PDF when "
                          "latexmk is there)")


def _hint(name: str, known) -> str:
    match = difflib.get_close_matches(name, list(known), 1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def load_fidelity(root: str | Path) -> dict:
    """config/fidelity.yaml (the scorecard's tolerances and excluded data), validated against its schema."""
    rules = read_yaml(Path(root) / FIDELITY, FIDELITY)
    validate(rules, Path(root) / "workflow" / "schemas" / "fidelity.schema.yaml", FIDELITY)
    return rules


def _check(registry: dict, key: str, schemas: Path, source: str, rules: dict) -> None:
    """The registry of paper `key` against the schema, its cross-references, the names and options of the
    kinds it chooses against their registered signatures (advrepro.catalog), and the kinds of its printed
    numbers against the scorecard's `rules` (config/fidelity.yaml); errors name `source`."""
    from advrepro import catalog, scorecard  # import the library (torch): only when a registry is checked

    validate(registry, schemas / "paper.schema.yaml", source)
    _check_references(registry, source)
    problems = catalog.problems(key, registry) + scorecard.problems(registry["tables"], rules)
    if problems:
        raise ConfigError("\n".join(f"{source}: {problem}" for problem in problems))


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
    for name, benchmark in registry.get("benchmarks", {}).items():
        for ref in benchmark.get("models", []):
            if ref not in registry["models"]:
                raise ConfigError(f"{source}: benchmarks -> {name} -> models names {ref!r}, which is not defined; "
                                  f"allowed: {', '.join(sorted(registry['models']))}")
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
    """The model's registry entry with the scale's limits applied (epochs of each stage, training examples, and
    a probe's optimizer steps: training.train stops after `max_steps`)."""
    spec = copy.deepcopy(registry["models"][model])
    training, limits = spec["training"], config["limits"]
    training["epochs"] = _cap(training["epochs"], limits["max_epochs"])
    if "continue_max_epochs" in training.get("protocol", {}):
        training["protocol"]["continue_max_epochs"] = _cap(training["protocol"]["continue_max_epochs"],
                                                           limits["max_epochs"])
    spec["train_examples"] = _cap(spec.get("train_examples"), limits["train_examples"])
    if limits.get("max_steps") is not None:  # a probe (config/scales/probe.yaml): the paper's setting, few steps
        training["max_steps"] = limits["max_steps"]
    spec.setdefault("options", {})
    return spec


def benchmark_spec(config: dict, registry: dict, benchmark: str) -> dict:
    """The benchmark's registry entry with the scale's limits applied (its `examples` option)."""
    spec = copy.deepcopy(registry["benchmarks"][benchmark])
    if "examples" in spec.get("options", {}):
        spec["options"]["examples"] = _cap(spec["options"]["examples"], config["limits"]["eval_examples"])
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
        if config["limits"].get("max_steps") is not None:  # a probe: any split on its few examples
            spec["examples"] = _cap(spec["examples"], config["limits"]["eval_examples"])
    spec.setdefault("seed", 0)
    spec.setdefault("weights", "final")
    if "source" in spec:  # the model an attack crafts its examples on
        spec["source_spec"] = model_spec(config, registry, spec["source"])
    return spec
