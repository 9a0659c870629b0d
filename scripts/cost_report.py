"""Render the probe's page of the paper scale's projected cost: results/cost/report.html."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "cost_report")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

from datetime import datetime, timezone
from pathlib import Path

from advrepro import io, report
from advrepro.provenance import git_commit

context = {"cost": io.read_json(sm.input.projection), "git_commit": git_commit(),
           "generated": datetime.now(timezone.utc).isoformat(timespec="seconds")}
report.render_cost(context, templates=str(Path(sm.input.templates[0]).parent), html=sm.output.html)
