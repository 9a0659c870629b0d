"""Draw one paper figure from evaluation results (or the dataset) and save it as PDF + PNG."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "figure")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

from advrepro import figures, io, papers

artifact, paper = sm.params.artifact, sm.wildcards.paper
inputs = papers.ArtifactInputs.load(sm.input.results, sm.params.models, dataset=sm.input.get("dataset"),
                                    records=sm.input.get("records"))
fig = papers.builder(paper, artifact["builder"])(artifact, inputs)
figures.save(fig, pdf=sm.output.pdf, png=sm.output.png, caption=f"{artifact['title']} [scale: {sm.params.scale}]")
io.write_json(sm.output.json, inputs.metadata(paper, sm.wildcards.figure, "figure", artifact, sm.params.scale))
