"""Assemble one paper table from evaluation results and write it as CSV, LaTeX, HTML and JSON."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "table")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

from advrepro import papers, tables

artifact, paper = sm.params.artifact, sm.wildcards.paper
inputs = papers.ArtifactInputs.load(sm.input.results, sm.params.models)
long = papers.builder(paper, artifact["builder"])(artifact, inputs)
reference = artifact.get("reference") or {}
meta = {
    **inputs.metadata(paper, sm.wildcards.table, "table", artifact, sm.params.scale),
    "unit": reference.get("unit", ""), "source": reference.get("source"), "note": reference.get("note"),
}
tables.write(tables.compare(long, reference), meta, csv=sm.output.csv, tex=sm.output.tex, html=sm.output.html,
             json=sm.output.json)
