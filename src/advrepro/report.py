"""The report: the scorecard, every table and figure of every paper beside the paper's numbers, and the papers'
claims, as HTML and LaTeX."""

from __future__ import annotations

import math
import os
import re
from datetime import datetime, timedelta
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


JOB_RESULTS = ("models/**/provenance.json", "evals/**/*.json", "svm/*/*.json", "adversarial_sets/*/*.json")
"""The results of the jobs that do the work (training, evaluations, SVM paths, adversarial sets), relative to
the results folder: each carries its job's provenance (advrepro.provenance.record)."""


def run_time(results: str, slowest: int = 5) -> dict | None:
    """How long the jobs behind the results took, from their provenance: the span from the first job's start
    to the last one's finish (the run's wall time when one run made them all; it includes any pause between
    runs), the job time summed, and the `slowest` jobs. None when no result carries a provenance."""
    jobs = []
    for pattern in JOB_RESULTS:
        for path in sorted(Path(results).glob(pattern)):
            record = read_json(path).get("provenance")
            if record and "wall_time_s" in record and "finished" in record:
                finished = datetime.fromisoformat(record["finished"])
                jobs.append({"job": str(path.relative_to(results).with_suffix("")), "seconds": record["wall_time_s"],
                             "started": finished - timedelta(seconds=record["wall_time_s"]), "finished": finished})
    if not jobs:
        return None
    first, last = min(j["started"] for j in jobs), max(j["finished"] for j in jobs)
    return {"jobs": len(jobs), "first_started": first.isoformat(timespec="seconds"),
            "last_finished": last.isoformat(timespec="seconds"), "span_s": (last - first).total_seconds(),
            "job_seconds": sum(j["seconds"] for j in jobs),
            "slowest": [{"job": j["job"], "seconds": j["seconds"]}
                        for j in sorted(jobs, key=lambda j: -j["seconds"])[:slowest]]}


def duration(seconds: float) -> str:
    """e.g. "1 h 02 min", "7 min 05 s", "42 s"."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def number(value, digits: int = 4) -> str:
    """A number of the scorecard as the report prints it: `digits` significant digits, blank when missing."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def render(context: dict, *, templates: str, html: str, tex: str) -> None:
    """Render index.html and report.tex from the Jinja2 templates in `templates`."""
    write_text(html, _html_environment(templates).get_template("index.html.j2").render(**context))
    tex_env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), block_start_string=r"\BLOCK{", block_end_string="}",
                                 variable_start_string=r"\VAR{", variable_end_string="}",
                                 comment_start_string=r"\#{", comment_end_string="}", trim_blocks=True,
                                 autoescape=False, undefined=jinja2.StrictUndefined)
    tex_env.filters["e"] = latex_escape
    tex_env.filters["num"] = number
    tex_env.filters["duration"] = duration
    write_text(tex, tex_env.get_template("report.tex.j2").render(**context))


def render_cost(context: dict, *, templates: str, html: str) -> None:
    """Render the probe's page of the paper scale's projected cost (context["cost"]: results/cost/projection.json)."""
    write_text(html, _html_environment(templates).get_template("cost_page.html.j2").render(**context))


def _html_environment(templates: str) -> jinja2.Environment:
    """The HTML templates' environment: autoescaped, strict, with the report's number and duration filters."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), undefined=jinja2.StrictUndefined,
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    env.filters.update(num=number, duration=duration)
    return env
