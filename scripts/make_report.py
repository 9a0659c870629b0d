"""Build results/report/index.html and report.tex from the scorecards and every table, figure, notebook and
benchmark."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "report")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

from datetime import datetime, timezone
from pathlib import Path

from advrepro import io, report, scorecard
from advrepro.provenance import git_commit

report_dir, rules = str(Path(sm.output.html).parent), scorecard.read_rules(sm.input.rules)
context = {
    "scale": sm.params.scale,
    "limits": sm.params.limits,
    "papers": report.collect(sm.params.papers, sm.params.artifacts, results="results", report_dir=report_dir),
    "benchmarks": [io.read_json(b) for b in sm.input.benchmarks],
    # the paper scale's projected cost, where a probe has run in this checkout (config/scales/probe.yaml)
    "cost": io.read_json(report.COST) if Path(report.COST).exists() else None,
    "run_time": report.run_time("results"),
    "tolerances": scorecard.legend(rules),
    "excluded_data": rules["data"],
    "git_commit": git_commit(),
    "generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
}
report.render(context, templates=str(Path(sm.input.templates[0]).parent), html=sm.output.html, tex=sm.output.tex)
