"""Draw one paper figure from evaluation results (or the dataset) and save it as PDF + PNG."""

from advrepro import figures, io, papers, provenance

sm = snakemake  # noqa: F821  (injected by Snakemake's script directive)
artifact, paper = sm.params.artifact, sm.wildcards.paper
results = {(r["model"], r["evaluation"]): r for r in map(io.read_json, sm.input.results)}
inputs = papers.ArtifactInputs(results, sm.params.labels, dataset=sm.input.get("dataset"))
fig = papers.builder(paper, artifact["builder"])(artifact, inputs)
figures.save(fig, pdf=sm.output.pdf, png=sm.output.png, caption=f"{artifact['title']} [scale: {sm.params.scale}]")
io.write_json(sm.output.json, {
    "paper": paper, "artifact": sm.wildcards.figure, "kind": "figure", "title": artifact["title"],
    "scale": sm.params.scale, "config_hash": provenance.config_hash(artifact),
    "inputs": {f"{m}/{e}": r["provenance"] for (m, e), r in results.items()},
    "datasets": sorted({f"{r['dataset']['name']} ({r['dataset']['variant']}), {r['spec']['split']} split"
                        for r in results.values()}),
})
