"""The scorecard (issue 15): every number a paper printed (its registry's `reference` of each table) set against
ours with the tolerance of its kind (config/fidelity.yaml): within, outside, or not comparable at this scale."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import yaml

from advrepro.io import write_json, write_text
from advrepro.registry import SAFE_LOADER
from advrepro.tablefiles import WrittenTable

WITHIN, OUTSIDE, NOT_COMPARABLE = "within", "outside", "not comparable"
STATUSES = (WITHIN, OUTSIDE, NOT_COMPARABLE)
_ROUNDING = 1e-9  # float noise in |ours - paper|, not a tolerance
NUMBER_COLUMNS = ["paper", "table", "row", "row_label", "column", "kind", "ours", "paper_value", "difference", "unit",
                  "tolerance", "status", "reason"]
CLAIM_COLUMNS = ["paper", "claim_id", "claim", "source", "table", "check", "status", "detail"]


def read_rules(path: str | Path) -> dict:
    """config/fidelity.yaml: tolerances per kind of number and the data never compared (validated at start-up)."""
    return yaml.load(Path(path).read_text(), Loader=SAFE_LOADER)


def problems(tables: dict, rules: dict) -> list[str]:
    """What is wrong with a registry's `scorecard` blocks (`tables`: its table entries): a kind that
    config/fidelity.yaml has no tolerance for, or a printed column with no kind; one message each."""
    found = []
    for name, artifact in tables.items():
        spec, printed = artifact.get("scorecard", {}), artifact.get("reference", {}).get("values", {})
        kinds = {spec.get("kind"), *spec.get("columns", {}).values()} - {None}
        found += [f"unknown kind {kind!r} at tables -> {name} -> scorecard; allowed (config/fidelity.yaml): "
                  f"{', '.join(rules['tolerances'])}" for kind in sorted(kinds - set(rules["tolerances"]))]
        columns = sorted({column for values in printed.values() for column in values if not kind_of(spec, column)})
        found += [f"tables -> {name} prints {column!r} (reference) but gives it no kind of number: add scorecard: "
                  f"{{kind: ...}} or scorecard: {{columns: {{{column!r}: ...}}}}" for column in columns]
    return found


def kind_of(spec: dict, column: str) -> str | None:
    """The kind of a table's column from its registry `scorecard` block: the column's own, else the table's."""
    return spec.get("columns", {}).get(column, spec.get("kind"))


def tolerance_text(tolerance: dict) -> str:
    """e.g. "±0.15 pp" (absolute, in its unit), "±15%" (relative)."""
    if "relative" in tolerance:
        return f"±{tolerance['relative']:.0%}"
    return f"±{tolerance['absolute']:g} {tolerance['unit']}"


def allowed(tolerance: dict, paper: float) -> float:
    """How far ours may lie from `paper`: the absolute tolerance, or the relative one times |paper|."""
    return tolerance["absolute"] if "absolute" in tolerance else tolerance["relative"] * abs(paper)


def blockers(table: WrittenTable, row: str, spec: dict, scale: str, data: dict) -> list[str]:
    """Why a number of `row` is not comparable: a reduced scale the table's `comparable_at` does not list, and
    the labels of the data variants it rests on that config/fidelity.yaml excludes."""
    reasons = [f"{scale} scale"] if scale != "paper" and scale not in spec.get("comparable_at", []) else []
    return reasons + [data[variant]["label"] for variant in sorted(table.variants(row)) if variant in data]


def judge(ours: float, paper: float, tolerance: dict, blocked: list[str]) -> tuple[str, str]:
    """(status, reason) of one printed number: not comparable when blocked or ours is missing, else whether
    |ours - paper| is within the tolerance."""
    reasons = blocked + (["no value of ours"] if math.isnan(ours) else [])
    if reasons:
        return NOT_COMPARABLE, "; ".join(reasons)
    return (WITHIN if abs(ours - paper) <= allowed(tolerance, paper) + _ROUNDING else OUTSIDE), ""


def score_table(paper: str, table: WrittenTable, artifact: dict, context: dict) -> list[dict]:
    """One record per number the paper printed in this table (cited rows aside), in the registry's order;
    `context` holds the rules (config/fidelity.yaml), the scale and the models' labels."""
    reference, spec, rules = artifact["reference"], artifact.get("scorecard", {}), context["rules"]
    records = []
    for row, printed in reference["values"].items():
        blocked = blockers(table, row, spec, context["scale"], rules["data"])
        for column, value in printed.items():
            kind = kind_of(spec, column)
            tolerance, ours = rules["tolerances"][kind], table.ours(row, column)
            status, reason = judge(ours, value, tolerance, blocked)
            records.append({
                "paper": paper, "table": table.name, "row": row,
                "row_label": table.label(row, context["labels"].get(row)), "column": column, "kind": kind,
                "ours": ours, "paper_value": value, "difference": ours - value, "unit": reference["unit"],
                "tolerance": tolerance_text(tolerance), "status": status, "reason": reason,
            })
    return records


def score(paper: str, tables: dict[str, WrittenTable], artifacts: dict, context: dict) -> list[dict]:
    """Every printed number of every table of one paper (`artifacts`: the registry's table entries)."""
    return [record for name, artifact in artifacts.items() if artifact.get("reference", {}).get("values")
            for record in score_table(paper, tables[name], artifact, context)]


def counts(records: list[dict], statuses) -> dict[str, int]:
    """How many records have each status (every status listed, zeros included)."""
    return {status: sum(r["status"] == status for r in records) for status in statuses}


def legend(rules: dict) -> list[dict]:
    """Every tolerance with its reason, for the report (e.g. MNIST error, "±0.15 pp", "One MNIST test image...")."""
    return [{"kind": kind, "label": t["label"], "tolerance": tolerance_text(t), "reason": t["reason"]}
            for kind, t in rules["tolerances"].items()]


def write(summary: dict, *, numbers: str, claims: str, json: str) -> None:
    """The scorecard of one paper: every number (CSV), every claim (CSV) and both with their counts (JSON)."""
    write_text(numbers, pd.DataFrame(summary["numbers"], columns=NUMBER_COLUMNS).to_csv(index=False))
    write_text(claims, pd.DataFrame(summary["claims"], columns=CLAIM_COLUMNS).to_csv(index=False))
    write_json(json, summary)
