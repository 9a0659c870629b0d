"""The papers' qualitative claims as checks over our own numbers, never the paper's (issue 15).

Each registry's `claims:` gives a claim's sentence, its source in the paper, the table it reads and a check
(`check: {kind: ..., options}`), one of CHECKS. A check turns its options into comparisons between cells of the
table (or a cell and a limit); the claim holds when every comparison does, fails when one does not, and is not
evaluable when a number it reads is missing or NaN, or rests on data that config/fidelity.yaml keeps out of
claims (the synthetic CIFAR-10 stand-in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from advrepro.kinds import Kinds
from advrepro.tablefiles import WrittenTable

HOLDS, FAILS, NOT_EVALUABLE = "holds", "fails", "not evaluable"
VERDICTS = (HOLDS, FAILS, NOT_EVALUABLE)
CHECKS = Kinds("claim check", fixed=("table",))
Relation = Literal["above", "below"]
_SYMBOL = {"above": ">", "below": "<"}


class NotEvaluable(Exception):
    """A number the check reads is missing, NaN, or rests on data that claims may not read."""


@dataclass(frozen=True)
class Comparison:
    """`left` (a cell: row, column) lies strictly `relation` `right` (a cell, or a limit)."""

    left: tuple[str, str]
    relation: Relation
    right: tuple[str, str] | float


class OurNumbers:
    """Our values of one written table by (row, column); rows resting on data in `excluded` (variant -> label)
    are refused with that label."""

    def __init__(self, table: WrittenTable, excluded: dict[str, str]):
        self.table, self.excluded = table, excluded
        ours = table.long[table.long["ours"].notna()]
        self.rows = list(dict.fromkeys(ours["row"]))
        self._columns = {row: list(ours.loc[ours["row"] == row, "column"]) for row in self.rows}

    def columns_of(self, row: str) -> list[str]:
        """The columns where `row` has a value of ours, in the table's order (none: not evaluable)."""
        if row not in self._columns:
            raise NotEvaluable(f"{self.table.name} has no value of ours in row {row} ({self._rows_with_values()})")
        return self._columns[row]

    def _rows_with_values(self) -> str:
        return f"rows with values: {', '.join(self.rows) or 'none'}"

    def value(self, cell: tuple[str, str]) -> float:
        row, column = map(str, cell)  # a registry may write a column as a number (0.3); tables name it "0.3"
        refused = sorted(self.excluded[v] for v in self.table.variants(row) if v in self.excluded)
        if refused:
            raise NotEvaluable(f"{self.table.label(row)} rests on the {', '.join(refused)}")
        value = self.table.ours(row, column)
        if math.isnan(value):
            raise NotEvaluable(f"{self.table.name} has no value of ours at {row} / {column} "
                               f"({self._rows_with_values()})")
        return value

    def describe(self, cell: tuple[str, str] | float) -> str:
        return f"{cell:g}" if isinstance(cell, (int, float)) else f"{self.table.label(str(cell[0]))} [{cell[1]}]"


@CHECKS.register()
def monotone(table: OurNumbers, order: list, at: list, direction: Literal["increasing", "decreasing"],
             along: Literal["rows", "columns"] = "rows") -> list[Comparison]:
    """Strictly increasing (decreasing) along `order` (rows, or columns with along: columns) at each of `at`."""
    relation = "below" if direction == "increasing" else "above"
    cell = (lambda item, fixed: (item, fixed)) if along == "rows" else (lambda item, fixed: (fixed, item))
    return [Comparison(cell(a, fixed), relation, cell(b, fixed)) for fixed in at for a, b in zip(order, order[1:])]


@CHECKS.register()
def rows_compare(table: OurNumbers, rows: list, than: str | list, relation: Relation,
                 columns: list | None = None) -> list[Comparison]:
    """Every row of `rows` strictly above (below) the row `than` (or each of a list), in each of `columns`
    (default: every column of the row it is set against)."""
    others = [than] if isinstance(than, str) else than
    return [Comparison((row, column), relation, (other, column))
            for other in others for row in rows for column in (columns or table.columns_of(other))]


@CHECKS.register()
def columns_compare(table: OurNumbers, column: str, than: str, relation: Relation,
                    rows: list | None = None) -> list[Comparison]:
    """In each of `rows` (default: every row with values), column `column` strictly above (below) column `than`."""
    return [Comparison((row, column), relation, (row, than)) for row in (rows or table.rows)]


@CHECKS.register()
def bound(table: OurNumbers, relation: Relation, limit: float, rows: list | None = None,
          columns: list | None = None) -> list[Comparison]:
    """Every value of `rows` x `columns` (default: all of them) strictly above (below) `limit`."""
    return [Comparison((row, column), relation, limit)
            for row in (rows or table.rows) for column in (columns or table.columns_of(row))]


def _distinct(left: float, right: float) -> tuple[str, str]:
    """Both values with 4 significant digits, or as many more as it takes to tell two unequal ones apart."""
    digits = next((d for d in range(4, 17) if f"{left:.{d}g}" != f"{right:.{d}g}"), 4)
    return f"{left:.{digits}g}", f"{right:.{digits}g}"


def _outcome(numbers: OurNumbers, comparisons: list[Comparison]) -> tuple[str, str]:
    """(status, detail): the failing comparisons, or those that hold (at most three of either, and a count)."""
    if not comparisons:
        raise NotEvaluable("the check reads no number of ours")
    lines = {True: [], False: []}
    for c in comparisons:
        left = numbers.value(c.left)
        right = c.right if isinstance(c.right, (int, float)) else numbers.value(c.right)
        holds = left > right if c.relation == "above" else left < right
        shown = _distinct(left, right)
        lines[holds].append(f"{numbers.describe(c.left)} {shown[0]} {'' if holds else 'is not '}"
                            f"{_SYMBOL[c.relation]} {numbers.describe(c.right)}"
                            + ("" if isinstance(c.right, (int, float)) else f" {shown[1]}"))
    shown = lines[False] or lines[True]
    more = f" (and {len(shown) - 3} more)" if len(shown) > 3 else ""
    return (FAILS if lines[False] else HOLDS), "; ".join(shown[:3]) + more


def evaluate(paper: str, claim_id: str, claim: dict, tables: dict[str, WrittenTable], excluded: dict[str, str]) -> dict:
    """The verdict on one registry claim over `tables` (this run's tables of the paper, by name)."""
    spec = claim["check"]
    verdict = {"paper": paper, "claim_id": claim_id, "claim": claim["claim"], "source": claim["source"],
               "table": claim["table"], "check": spec["kind"]}
    if claim["table"] not in tables:
        return {**verdict, "status": NOT_EVALUABLE, "detail": f"no table {claim['table']} in this run"}
    numbers = OurNumbers(tables[claim["table"]], excluded)
    try:
        comparisons = CHECKS.lookup(spec["kind"])(numbers, **{k: v for k, v in spec.items() if k != "kind"})
        status, detail = _outcome(numbers, comparisons)
    except NotEvaluable as why:
        status, detail = NOT_EVALUABLE, str(why)
    return {**verdict, "status": status, "detail": detail}


def evaluate_all(paper: str, claims: dict, tables: dict[str, WrittenTable], data: dict) -> list[dict]:
    """Every claim of one paper; `data` is config/fidelity.yaml's (variants with `claims: false` are refused)."""
    excluded = {variant: rule["label"] for variant, rule in data.items() if not rule["claims"]}
    return [evaluate(paper, claim_id, claim, tables, excluded) for claim_id, claim in claims.items()]
