"""Rendering of comparison tables: long results -> paper | ours | difference, as CSV, LaTeX, HTML."""

from __future__ import annotations

import math

import pandas as pd

from advrepro.io import write_json, write_text

LONG_COLUMNS = ["row", "row_label", "column", "ours", "ours_sem"]


def compare(long: pd.DataFrame, reference: dict | None) -> pd.DataFrame:
    """Add the paper's printed value and our difference to a long table (row, column, ours, ours_sem).

    Rows the paper cites from other work (reference["cited"]) are appended with no value of ours
    and "(cited: source)" in their label: shown, never presented as reproduced.
    """
    reference = reference or {}
    values = reference.get("values", {})
    table = long.copy()
    table["paper"] = [values.get(r, {}).get(c, math.nan) for r, c in zip(table["row"], table["column"])]
    cited = [(row, f"{entry['label']} (cited: {entry['source']})", column, math.nan, math.nan, value)
             for row, entry in reference.get("cited", {}).items() for column, value in entry["values"].items()]
    if cited:
        table = pd.concat([table, pd.DataFrame(cited, columns=[*LONG_COLUMNS, "paper"])], ignore_index=True)
    table["difference"] = table["ours"] - table["paper"]
    return table


def _fmt(value: float, digits: int) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def wide(table: pd.DataFrame, digits: int) -> pd.DataFrame:
    """One row per model; per column three cells: paper, ours (± standard error), difference; a column the paper
    printed nothing for (an artifact beyond the paper) keeps only ours."""
    cells = {}
    for _, r in table.iterrows():
        ours = _fmt(r["ours"], digits)
        if r["ours_sem"] and not math.isnan(r["ours_sem"]):
            ours += f" ± {r['ours_sem']:.{digits}f}"
        cells.setdefault(r["row_label"], {}).update({
            (r["column"], "paper"): _fmt(r["paper"], digits),
            (r["column"], "ours"): ours,
            (r["column"], "Δ"): _fmt(r["difference"], digits),
        })
    frame = pd.DataFrame.from_dict(cells, orient="index")
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    frame.index.name = "model"
    unprinted = {column for column, part in frame.columns if part == "paper" and (frame[(column, "paper")].fillna("") == "").all()}
    return frame.drop(columns=[(c, part) for c in unprinted for part in ("paper", "Δ")])


def write(table: pd.DataFrame, meta: dict, *, csv: str, tex: str, html: str, json: str) -> None:
    """Write the long table (CSV), its wide rendering (LaTeX, HTML) and its metadata (JSON)."""
    digits = 4 if meta.get("unit") == "L2 norm" else 2
    frame = wide(table, digits)
    write_text(csv, table.to_csv(index=False))
    styled = frame.style.format(escape="latex").format_index(escape="latex").format_index(escape="latex", axis=1)
    latex = styled.to_latex(hrules=True, multicol_align="c", column_format="l" + "r" * frame.shape[1])
    write_text(tex, latex.replace("±", r"$\pm$").replace("Δ", r"$\Delta$"))
    write_text(html, frame.to_html(classes="comparison", border=0))
    write_json(json, meta)
