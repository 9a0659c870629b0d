"""advrepro.worker: a job's script hands itself over to a fork of the warm server, which runs it with the job's
streams, directory, environment and command line, returns its exit status, and ends with the job's process."""

import ast
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from advrepro import worker

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import os, sys, time
    from advrepro import worker
    worker.hand_over()
    print("ran in", os.getppid(), "at", os.getcwd(), "with", os.environ.get("JOB_SETTING"), sys.argv[1:], flush=True)
    if sys.argv[1] == "fail":
        raise RuntimeError("the job's own error")
    if sys.argv[1] == "preempted":
        import signal
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
        time.sleep(30)
    if sys.argv[1] == "slow":
        time.sleep(3)
        open("written_after_3s", "w").close()
    sys.exit(int(sys.argv[2]))
""")


@pytest.fixture(scope="module")
def server():
    started = worker.start()
    yield started.process, started.address
    worker.stop(started)


def job(tmp_path, address, *argv, wait=True, stdout=None):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    environ = {**os.environ, "JOB_SETTING": "from the job"}
    environ.pop(worker.ADDRESS, None)
    if address:
        environ[worker.ADDRESS] = address
    command = [sys.executable, str(script), *argv]
    if not wait:
        return subprocess.Popen(command, cwd=tmp_path, env=environ, stdout=stdout, text=True)
    return subprocess.run(command, cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60)


def test_a_handed_over_script_runs_in_the_server_with_the_jobs_context(server, tmp_path):
    started, address = server
    done = job(tmp_path, address, "ok", "3")
    assert done.returncode == 3
    assert done.stdout.strip() == f"ran in {started.pid} at {tmp_path} with from the job ['ok', '3']"


def test_an_error_in_the_script_fails_the_job_with_its_traceback(server, tmp_path):
    done = job(tmp_path, server[1], "fail", "0")
    assert done.returncode == 1
    assert "RuntimeError: the job's own error" in done.stderr


def test_the_scripts_fork_ends_when_the_jobs_process_is_killed(server, tmp_path):
    client = job(tmp_path, server[1], "slow", "0", wait=False)
    time.sleep(1.5)  # connected and running (the server's imports are done: the tests above ran)
    client.kill()
    client.wait()
    time.sleep(3)
    assert not (tmp_path / "written_after_3s").exists()


def test_a_sigterm_to_the_jobs_process_reaches_the_scripts_fork(server, tmp_path):
    client = job(tmp_path, server[1], "preempted", "0", wait=False, stdout=subprocess.PIPE)
    assert client.stdout.readline().startswith(f"ran in {server[0].pid} ")  # then it sets its handler and sleeps
    time.sleep(0.5)
    client.terminate()
    assert client.wait(timeout=10) == 143  # the script's own SIGTERM handler ran


def test_without_a_server_the_script_runs_in_its_own_process(tmp_path):
    done = job(tmp_path, None, "ok", "0")
    assert done.returncode == 0 and done.stdout.startswith(f"ran in {os.getpid()} ")
    unreachable = job(tmp_path, str(tmp_path / "no-server"), "ok", "0")
    assert unreachable.returncode == 0 and unreachable.stdout.startswith(f"ran in {os.getpid()} ")


def test_stop_removes_the_socket_and_the_server_ends_with_its_parent(tmp_path):
    started = worker.start()
    assert os.environ[worker.ADDRESS] == started.address
    worker.stop(started)
    assert worker.ADDRESS not in os.environ and not os.path.exists(os.path.dirname(started.address))
    orphan = subprocess.Popen([sys.executable, "-m", "advrepro.worker", str(tmp_path / "s"), "1"])
    assert orphan.wait(timeout=30) == 0  # its parent is not process 1: it ends at its first check


HOOKED_WORKFLOW = """
include: "{hooks}"


rule warm:
    output:
        "warm.txt",
    script:
        "job.py"
"""

HOOKED_JOB = """
from advrepro import jobs

sm = jobs.snakemake_object(globals(), "warm", warm=lambda sm: sm.config["warm"])
import sys

open(sm.output[0], "w").write(str("torch" in sys.modules))  # the warm Python has imported it; this script does not
"""


@pytest.mark.parametrize("wanted, warm", [(1, "True"), (0, "False")], ids=["warm", "own process"])
def test_a_local_runs_jobs_run_in_the_warm_python_unless_they_ask_for_their_own(tmp_path, wanted, warm):
    (tmp_path / "Snakefile").write_text(HOOKED_WORKFLOW.format(hooks=REPO / "workflow/rules/run_hooks.smk"))
    (tmp_path / "job.py").write_text(HOOKED_JOB)
    done = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "--config", f"warm={wanted}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "warm.txt").read_text() == warm


@pytest.mark.parametrize("script", sorted(p.name for p in (REPO / "scripts").glob("*.py")))
def test_every_workflow_script_hands_over_before_its_imports(script):
    """Whatever a script imports before `jobs.snakemake_object` (which hands the job over) each job pays again."""
    body = ast.parse((REPO / "scripts" / script).read_text()).body
    first = [ast.unparse(node) for node in body[:4]]
    assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)  # the docstring
    assert first[1:3] == ["from advrepro import jobs", first[2]] and "jobs.snakemake_object(globals()" in first[2]
