"""A warm Python for the jobs of a local run: one server process imports torch, pandas, matplotlib and the
whole library once, and each job's script, started by Snakemake as usual, hands itself over to a fork of it.

Without it every job spends about 3 of its ~4.7 seconds importing (torch alone 1.9-2.8 s), a quarter of
the quick scale's job time over its ~330 jobs (issue 18). The job's process stays what Snakemake sees and
waits: it passes its standard streams, working directory, environment and command line, the fork runs the
script there and returns its exit status. A SIGTERM to the job's process goes on to the fork (training saves
its checkpoint and stops, as when a cluster preempts it); a fork whose job process is gone (killed) ends too.

Only local runs start the server (workflow/rules/run_hooks.smk); a job on a cluster node, or one run by hand,
runs in its own process as before, and so does any job when the server cannot be reached.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
from typing import NamedTuple

ADDRESS = "ADVREPRO_WORKER"
"""The environment variable that holds the server's socket path; set in a local run's jobs only."""

_STATUS = struct.Struct("!i")


def hand_over() -> None:
    """Run this process's script (`sys.argv`) in a fork of the warm server and exit with its status; return
    at once (the script goes on here) when no server is set for this run or it cannot be reached."""
    address = os.environ.get(ADDRESS)
    if not address:
        return
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(address)
    except OSError:
        connection.close()
        return
    request = json.dumps({"cwd": os.getcwd(), "argv": sys.argv, "environ": dict(os.environ)}).encode()
    sys.stdout.flush(), sys.stderr.flush()
    socket.send_fds(connection, [_STATUS.pack(len(request)) + request], [0, 1, 2])
    fork = _receive(connection, _STATUS.size)
    if len(fork) == _STATUS.size:  # SIGTERM (a preemption: training checkpoints and stops) goes on to the fork
        signal.signal(signal.SIGTERM, lambda signum, frame: os.kill(_STATUS.unpack(fork)[0], signal.SIGTERM))
    reply = _receive(connection, _STATUS.size)
    if len(reply) < _STATUS.size:
        sys.exit("advrepro.worker: the process running this job ended without an exit status")
    sys.exit(_STATUS.unpack(reply)[0])


def _receive(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def serve(address: str, parent: int) -> None:
    """Listen at `address`, import the libraries, then fork a process per job; end when process `parent`
    (the Snakemake run) is gone."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forks are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the jobs and Snakemake; the server ends with it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)  # jobs that connect while the imports below run wait in the backlog
    _preload()
    listener.settimeout(1.0)
    while os.getppid() == parent:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        if os.fork() == 0:
            try:
                listener.close()
                _run_job(connection)
            finally:  # a fork never returns to the loop
                os._exit(1)
        connection.close()
    listener.close()


def _preload() -> None:
    """Import what the scripts import: torch, pandas, matplotlib and every module of the library."""
    import importlib
    import pkgutil

    import matplotlib

    matplotlib.use("Agg")
    import advrepro

    for module in ("torch", "pandas", "matplotlib.pyplot"):
        importlib.import_module(module)
    for module in pkgutil.walk_packages(advrepro.__path__, f"{advrepro.__name__}."):
        importlib.import_module(module.name)


def _run_job(connection: socket.socket) -> None:
    """In a fork: take the job's streams, directory, environment and command line, run its script, send
    its exit status; end at once if the job's process goes away first."""
    import runpy
    import threading
    import traceback

    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    header, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    size, = _STATUS.unpack(header[:_STATUS.size])
    body = header[_STATUS.size:]
    if len(body) < size:
        body += _receive(connection, size - len(body))
    request = json.loads(body)
    connection.sendall(_STATUS.pack(os.getpid()))
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["environ"])
    os.environ.pop(ADDRESS)  # the script runs here: it must not hand itself over again
    sys.argv = request["argv"]
    threading.Thread(target=_end_with_job, args=(connection,), daemon=True).start()
    status = 0
    try:
        runpy.run_path(request["argv"][0], run_name="__main__")
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, (int, type(None))):
            print(exit_.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        status = 1
    sys.stdout.flush(), sys.stderr.flush()
    connection.sendall(_STATUS.pack(status))
    os._exit(status)


def _end_with_job(connection: socket.socket) -> None:
    """End this fork when the job's process closes its end of the connection (it only does so by ending)."""
    connection.recv(1)
    os._exit(1)


class Server(NamedTuple):
    process: subprocess.Popen
    address: str


def start() -> Server:
    """Start the server for this (Snakemake) process's jobs, at a socket in a new temporary directory (short
    enough for a socket's path), and point them at it."""
    import tempfile
    import time

    address = os.path.join(tempfile.mkdtemp(prefix="advrepro-worker-"), "socket")
    server = subprocess.Popen([sys.executable, "-m", __name__, address, str(os.getpid())], stdin=subprocess.DEVNULL)
    for _ in range(100):  # it listens within a second; a job started before that runs in its own process
        if os.path.exists(address):
            break
        time.sleep(0.01)
    os.environ[ADDRESS] = address
    return Server(server, address)


def stop(server: Server) -> None:
    """Stop the server (jobs still running in its forks finish), stop pointing jobs at it, remove its socket."""
    import shutil

    if os.environ.get(ADDRESS) == server.address:
        del os.environ[ADDRESS]
    server.process.terminate()
    server.process.wait()
    shutil.rmtree(os.path.dirname(server.address), ignore_errors=True)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
