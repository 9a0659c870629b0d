"""The report: the scorecard, every table and figure of every paper beside the paper's numbers, and the papers'
claims, as HTML and LaTeX."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import jinja2

from advrepro.io import read_json, write_text

COST = "results/cost/projection.json"
"""A probe's projection of the paper scale's cost (rule cost_projection), shown in the report where it exists."""

_LATEX_SPECIALS = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                   "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}


def latex_escape(text) -> str:
    """Escape LaTeX's special characters in plain text."""
    return re.sub(r"[&%$#_{}~^\\]", lambda m: _LATEX_SPECIALS[m.group()], str(text))


def collect(papers: dict, artifacts: dict, *, results: str, report_dir: str) -> list[dict]:
    """For each paper, its tables and figures with metadata, file paths relative to the report, and its
    scorecard (results/scorecard/<paper>/scorecard.json)."""
    def rel(path: str) -> str:
        return os.path.relpath(path, report_dir)

    sections = []
    for key, paper in papers.items():
        tables = []
        for name in artifacts[key]["tables"]:
            stem = f"{results}/tables/{key}/{name}"
            tables.append({**read_json(f"{stem}.json"), "html": Path(f"{stem}.html").read_text(),
                           "tex": rel(f"{stem}.tex"), "csv": rel(f"{stem}.csv")})
        figures = []
        for name in artifacts[key]["figures"]:
            stem = f"{results}/figures/{key}/{name}"
            figures.append({**read_json(f"{stem}.json"), "png": rel(f"{stem}.png"), "pdf": rel(f"{stem}.pdf")})
        notebook = f"{report_dir}/notebooks/{key}.html"
        sections.append({"key": key, **paper, "tables": tables, "figures": figures,
                         "notebook": rel(notebook) if Path(notebook).exists() else None,
                         "scorecard": read_json(f"{results}/scorecard/{key}/scorecard.json")})
    return sections


def number(value, digits: int = 4) -> str:
    """A number of the scorecard as the report prints it: `digits` significant digits, blank when missing."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def render(context: dict, *, templates: str, html: str, tex: str) -> None:
    """Render index.html and report.tex from the Jinja2 templates in `templates`."""
    loader = jinja2.FileSystemLoader(templates)
    html_env = jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape(["html", "j2"]),
                                  undefined=jinja2.StrictUndefined)
    html_env.filters["num"] = number
    write_text(html, html_env.get_template("index.html.j2").render(**context))
    tex_env = jinja2.Environment(loader=loader, block_start_string=r"\BLOCK{", block_end_string="}",
                                 variable_start_string=r"\VAR{", variable_end_string="}",
                                 comment_start_string=r"\#{", comment_end_string="}", trim_blocks=True,
                                 autoescape=False, undefined=jinja2.StrictUndefined)
    tex_env.filters["e"] = latex_escape
    tex_env.filters["num"] = number
    write_text(tex, tex_env.get_template("report.tex.j2").render(**context))


def render_cost(context: dict, *, templates: str, html: str) -> None:
    """Render the probe's page of the paper scale's projected cost (context["cost"]: results/cost/projection.json)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), undefined=jinja2.StrictUndefined,
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    env.filters["num"] = number
    write_text(html, env.get_template("cost_page.html.j2").render(**context))
