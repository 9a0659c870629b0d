"""Beyond the four papers: every trained model under today's attacks (PGD, AutoAttack, the FAB minimal attack;
advrepro.strong_attacks), the gradient-masking checks of Carlini et al. 2019, and whether each paper's claim
survives. Its registry (config/papers/today.yaml) names the other papers' models as <paper>/<model>, evaluated
on their trained weights; its only model of its own is a control built to mask gradients."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd

from advrepro import figures
from advrepro.papers import BUILDERS, ArtifactInputs, long_table
from advrepro.strong_attacks import masking_checks, threat_label

FAILED = {"pgd_vs_one_step": "PGD below one-step", "large_eps": "not 100% at large ε",
          "black_box": "Square beats white-box", "converged": "more steps help"}
"""How a failing check is flagged in a row's label."""


def model_label(inputs: ArtifactInputs, model: str) -> str:
    """"<paper>: <label>" for another paper's model, the label alone for this registry's own."""
    owner, slash, _ = model.partition("/")
    return f"{owner}: {inputs.labels[model]}" if slash else inputs.labels[model]


def _key(threat: dict) -> tuple:
    return (float(threat["p"]), float(threat["eps"]), threat.get("units", "pixels"))


def threat_rows(inputs: ArtifactInputs, model: str, pgd: str, autoattack: str) -> list[tuple[dict, dict | None]]:
    """(PGD row, AutoAttack row or None) for each threat the `pgd` evaluation of `model` ran."""
    attacked = {_key(row): row for row in inputs.result(model, autoattack)["threats"]}
    return [(row, attacked.get(_key(row))) for row in inputs.result(model, pgd)["threats"]]


def model_checks(inputs: ArtifactInputs, model: str, evaluations: list[str], tolerances: dict) -> list[dict]:
    """masking_checks at each threat of `model` (evaluations: pgd, autoattack, ...)."""
    large = inputs.result(model, evaluations[0])["large"]
    return [masking_checks(row, large, attacked, tolerances) for row, attacked in
            threat_rows(inputs, model, *evaluations[:2])]


def flags(checks: dict) -> str:
    """"checks ✓" when every check that ran holds, else "⚠ " and the failing ones."""
    failed = [FAILED[name] for name, check in checks.items() if check["holds"] is False]
    return f"⚠ {', '.join(failed)}" if failed else "checks ✓"


def _percent(value) -> float:
    return math.nan if value is None else 100 * value


@BUILDERS.register()
def robustness_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Per model and threat: clean error, the one-step attack, PGD and AutoAttack error (%), the masking
    checks held (failures named in the row), and on each model's first row the median minimal l2 distance
    by Lyu's line search and by FAB (input units). evaluations: pgd, autoattack, min_distance."""
    rows, pgd, autoattack, distance = [], *artifact["evaluations"]
    for model in artifact["models"]:
        checks = model_checks(inputs, model, [pgd, autoattack], artifact["options"]["tolerances"])
        found = inputs.result(model, distance)
        for number, ((row, attacked), held) in enumerate(zip(threat_rows(inputs, model, pgd, autoattack), checks)):
            key = f"{model} {threat_label(row)}"
            label = f"{model_label(inputs, model)} · {threat_label(row)} · {flags(held)}"
            values = {"clean error": 100 * row["clean"], "one-step (the papers' attack)": 100 * row["one_step"],
                      "PGD": 100 * row["pgd"], "AutoAttack": _percent(attacked and attacked["error"]),
                      "checks held": float(sum(c["holds"] is True for c in held.values())),
                      "median l2 distance, line search": found["line_search_median"] if number == 0 else math.nan,
                      "median l2 distance, FAB": found["minimal_median"] if number == 0 else math.nan}
            rows += [(key, label, column, value, np.nan) for column, value in values.items()]
    return long_table(rows)


@BUILDERS.register()
def masking_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """The numbers behind each check (Carlini et al. 2019) per model and threat, the failing checks
    named in the row: PGD minus one-step error (pp), PGD error at the large ε (%), errors only the black-box
    Square found (pp), and what more PGD steps add (pp)."""
    columns = {"pgd_vs_one_step": "PGD − one-step (pp)", "large_eps": "PGD error at the large ε (%)",
               "black_box": "found only by Square (pp)", "converged": "gain from more steps (pp)"}
    rows = []
    for model in artifact["models"]:
        checks = model_checks(inputs, model, artifact["evaluations"], artifact["options"]["tolerances"])
        for (row, _), held in zip(threat_rows(inputs, model, *artifact["evaluations"][:2]), checks):
            key = f"{model} {threat_label(row)}"
            label = f"{model_label(inputs, model)} · {threat_label(row)} · {flags(held)}"
            rows += [(key, label, columns[name], math.nan if check["value"] is None else check["value"], np.nan)
                     for name, check in held.items()]
    return long_table(rows)


def _errors(inputs: ArtifactInputs, model: str, evaluations: list[str], threat: dict) -> dict:
    """One-step, PGD and AutoAttack error (%) of `model` at `threat`; NaN where not run."""
    for row, attacked in threat_rows(inputs, model, *evaluations[:2]):
        if _key(row) == _key(threat):
            return {"one-step": 100 * row["one_step"], "PGD": 100 * row["pgd"],
                    "AutoAttack": _percent(attacked and attacked["error"])}
    raise ValueError(f"{model} was not attacked at {threat_label(threat)}")


def claim_values(claim: dict, inputs: ArtifactInputs, evaluations: list[str]) -> dict:
    """How much lower the error of claim["better"] is than claim["worse"]'s under each attack (pp), or how many
    times larger its median minimal distance is (measure: distance; line search and FAB)."""
    better, worse = claim["better"], claim["worse"]
    if claim.get("measure", "error") == "distance":
        found = {m: inputs.result(m, evaluations[2]) for m in (better, worse)}
        return {f"{name} (×)": found[better][key] / found[worse][key]
                for name, key in (("line search", "line_search_median"), ("FAB", "minimal_median"))}
    high, low = (_errors(inputs, m, evaluations, claim["threat"]) for m in (worse, better))
    return {f"{name} (pp)": high[name] - low[name] for name in high}


def _holds(column: str, value: float) -> str:
    if math.isnan(value):
        return f"{column.split(' (')[0]} –"
    return f"{column.split(' (')[0]} {'✓' if value > (1 if column.endswith('(×)') else 0) else '✗'}"


@BUILDERS.register()
def claims_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """A line per claim of the papers (options.claims: name -> {label, better, worse, threat | measure:
    distance}): by how much the model the paper says is more robust beats the other under each attack, ✓ where
    it does. A claim whose models this run does not attack is listed as such."""
    rows = []
    for name, claim in artifact["options"]["claims"].items():
        if not {claim["better"], claim["worse"]} <= set(artifact["models"]):
            rows.append((name, f"{claim['label']} · not run at this scale", "PGD (pp)", np.nan, np.nan))
            continue
        values = claim_values(claim, inputs, artifact["evaluations"])
        where = f" at {threat_label(claim['threat'])}" if "threat" in claim else ""
        verdict = ", ".join(_holds(column, value) for column, value in values.items())
        rows += [(name, f"{claim['label']}{where} · {verdict}", column, value, np.nan)
                 for column, value in values.items()]
    return long_table(rows)


@BUILDERS.register()
def attack_curves_figure(artifact: dict, inputs: ArtifactInputs):
    """Error (%) against ε for every model under the one-step attack (FGSM in l∞), PGD and AutoAttack, a panel
    per model (evaluations: pgd, autoattack; their `curve`), four panels a row, one legend above."""
    pgd, autoattack = artifact["evaluations"][:2]
    models, columns = artifact["models"], 4
    rows = math.ceil(len(models) / columns)
    fig, axes = figures.new(6.4, 1.75 * rows + 0.3, nrows=rows, ncols=columns, squeeze=False, sharey=True)
    fig.set_layout_engine("constrained")
    for ax, model in zip(axes.flat, models):
        swept, attacked = inputs.result(model, pgd)["curve"], inputs.result(model, autoattack)["curve"]
        eps = [row["eps"] for row in swept]
        ax.plot(eps, [100 * r["one_step"] for r in swept], ".-", label="one-step (FGSM)")
        ax.plot(eps, [100 * r["pgd"] for r in swept], ".-", label="PGD")
        ax.plot([r["eps"] for r in attacked], [_percent(r["error"]) for r in attacked], ".-", label="AutoAttack")
        ax.set_title(textwrap.fill(model_label(inputs, model), 34), fontsize=5, loc="left")
        ax.set_xlabel(f"{threat_label(swept[0]).split(' ε=')[0]} ε ({swept[0]['units']})", fontsize=6)
        ax.set_ylim(-3, 103)
        ax.tick_params(labelsize=5)
    for ax in list(axes.flat)[len(models):]:
        ax.set_axis_off()
    for ax in axes[:, 0]:
        ax.set_ylabel("test error (%)", fontsize=6)
    fig.legend(*axes.flat[0].get_legend_handles_labels(), loc="outside upper center", ncols=3, fontsize=6,
               frameon=False)
    return fig
