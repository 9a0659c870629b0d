"""Render the probe's page of the paper scale's projected cost: results/cost/report.html."""

from datetime import datetime, timezone
from pathlib import Path

from advrepro import io, jobs, report
from advrepro.provenance import git_commit

sm = jobs.snakemake_object(globals(), "cost_report")  # Snakemake's, or by hand: see advrepro.jobs
context = {"cost": io.read_json(sm.input.projection), "git_commit": git_commit(),
           "generated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
report.render_cost(context, templates=str(Path(sm.input.templates[0]).parent), html=sm.output.html)
