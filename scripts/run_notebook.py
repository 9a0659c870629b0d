"""Execute a paper's papermill notebook on the results and render it to HTML for the report."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "notebook")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

import nbformat
import papermill
from nbconvert import HTMLExporter

from advrepro import io, runtime

with runtime.log_to(sm.log[0]), io.atomic_path(sm.output.executed) as executed:
    papermill.execute_notebook(sm.input.notebook, str(executed), parameters=dict(sm.params.parameters),
                               kernel_name="python3", cwd=".", progress_bar=False)
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(nbformat.read(executed, as_version=4))
    io.write_text(sm.output.html, body)
