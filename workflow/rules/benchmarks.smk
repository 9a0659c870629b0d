# Benchmarks: each paper's registry names its own (`benchmarks:`), each a script in benchmarks/ that compares
# our code with a baseline in the same run and writes results/benchmarks/<paper>/<name>.json for the report.
# `snakemake benchmarks` runs every benchmark of the papers in the run.


rule benchmark:
    input:
        unpack(benchmark_inputs),
    output:
        "results/benchmarks/{paper}/{benchmark}.json",
    log:
        "results/logs/benchmarks/{paper}/{benchmark}.log",
    conda:
        "../../environment.yml"
    threads: lambda w: workflow.cores if benchmark_entry(w).get("alone") else config["model_threads"]
    resources:
        gpu=lambda w: 0 if benchmark_entry(w).get("cpu") else 1,  # a GPU on a cluster (profiles/slurm)
        gpu_slots=lambda w: 0 if benchmark_entry(w).get("cpu") else 1,  # packing on one GPU, as rule train
    params:
        python=sys.executable,  # the interpreter running Snakemake, with advrepro installed
        args=benchmark_args,
        torch_threads=lambda w: benchmark_entry(w).get("torch_threads", config["model_threads"]),
        device=config["device"],
    shell:
        "OMP_NUM_THREADS={params.torch_threads} {params.python} {input.command} {params.args} "
        "--device {params.device} --out {output} 2> {log}"


rule benchmarks:
    input:
        benchmark_files(),
