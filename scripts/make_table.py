"""Assemble one paper table from evaluation results and write it as CSV, LaTeX, HTML and JSON."""

from advrepro import io, papers, provenance, tables

sm = snakemake  # noqa: F821  (injected by Snakemake's script directive)
artifact, paper = sm.params.artifact, sm.wildcards.paper
results = {(r["model"], r["evaluation"]): r for r in map(io.read_json, sm.input.results)}
inputs = papers.ArtifactInputs(results, sm.params.labels)
long = papers.builder(paper, artifact["builder"])(artifact, inputs)
reference = artifact.get("reference")
meta = {
    "paper": paper, "artifact": sm.wildcards.table, "kind": "table", "title": artifact["title"],
    "scale": sm.params.scale, "unit": (reference or {}).get("unit", ""),
    "source": (reference or {}).get("source"), "note": (reference or {}).get("note"),
    "config_hash": provenance.config_hash(artifact),
    "inputs": {f"{m}/{e}": r["provenance"] for (m, e), r in results.items()},
    "datasets": sorted({f"{r['dataset']['name']} ({r['dataset']['variant']}), {r['spec']['split']} split"
                        for r in results.values()}),
}
tables.write(tables.compare(long, reference), meta, csv=sm.output.csv, tex=sm.output.tex, html=sm.output.html,
             json=sm.output.json)
