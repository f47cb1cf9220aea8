"""Try a distributed search on one machine: a chief and N workers on 127.0.0.1."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from regsearch._validation import check_float, check_int
from regsearch.distributed._directory import open_search
from regsearch.distributed._node import DEFAULT_WORKER_TIMEOUT, EXIT_INCOMPLETE
from regsearch.distributed._target import target_spec
from regsearch.search import format_table, results

if TYPE_CHECKING:
    import pandas as pd

_HOST = "127.0.0.1"
# Seconds a worker gets to exit by itself once the chief has ended the search.
_WORKER_EXIT_GRACE = 30.0
_LOG_LINES = 40


def free_port(host: str = _HOST) -> int:
    """A TCP port on ``host`` that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _child_pythonpath() -> str:
    # Like multiprocessing's spawn: children import what this process imports.
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    regsearch_root = str(Path(__file__).resolve().parents[2])
    extra = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(dict.fromkeys([regsearch_root, *paths, *extra.split(os.pathsep)]))


class LocalCluster:
    """A chief and workers as separate processes on 127.0.0.1, their output prefixed.

    Each process runs ``python -m regsearch.distributed._node TARGET`` with the
    three ``KERASTUNER_*`` variables set, exactly as on several machines. Use it as
    a context manager: every process still running at the end is killed.

    Args:
        target: The search definition (see ``run_distributed``).
        port: The chief's port; a free one when ``None``.
        worker_timeout: The chief's bounded wait for workers, in seconds.
        env: Extra environment variables for every process.
        output: Where the prefixed lines go; ``None`` keeps them only in ``logs``.
    """

    def __init__(
        self,
        target: Any,
        *,
        port: int | None = None,
        worker_timeout: float = DEFAULT_WORKER_TIMEOUT,
        env: Mapping[str, str] | None = None,
        output: IO[str] | None = None,
    ) -> None:
        self.target = target_spec(target)
        self.port = free_port() if port is None else check_int("port", port, minimum=1)
        self.worker_timeout = check_float(
            "worker_timeout", worker_timeout, minimum=0.0, exclusive_minimum=True
        )
        self.env = dict(env or {})
        self.output = output
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.logs: dict[str, collections.deque[str]] = {}
        self._readers: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._tmp = tempfile.TemporaryDirectory(prefix="regsearch-distributed-")
        self.status_file = os.path.join(self._tmp.name, "chief.json")

    @property
    def address(self) -> str:
        return f"{_HOST}:{self.port}"

    def _environment(self, tuner_id: str) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.update(self.env)
        env.update(
            KERASTUNER_TUNER_ID=tuner_id,
            KERASTUNER_ORACLE_IP=_HOST,
            KERASTUNER_ORACLE_PORT=str(self.port),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=_child_pythonpath(),
        )
        return env

    def _stream(self, name: str, process: subprocess.Popen[str]) -> None:
        if process.stdout is None:
            return
        for line in process.stdout:
            line = line.rstrip("\n")
            self.logs[name].append(line)
            if self.output is not None:
                with self._lock:
                    self.output.write(f"[{name}] {line}\n")
                    self.output.flush()

    def start(self, tuner_id: str) -> subprocess.Popen[str]:
        """Start the chief (``"chief"``) or a worker (any other id, e.g. ``"tuner0"``)."""
        running = self.processes.get(tuner_id)
        if running is not None and running.poll() is None:
            raise RuntimeError(f"Process {tuner_id!r} is still running.")
        command = [sys.executable, "-m", "regsearch.distributed._node", self.target]
        if tuner_id == "chief":
            command += ["--worker-timeout", repr(self.worker_timeout)]
            command += ["--status-file", self.status_file]
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.status_file)
        process = subprocess.Popen(
            command,
            env=self._environment(tuner_id),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self.processes[tuner_id] = process
        self.logs[tuner_id] = collections.deque(maxlen=_LOG_LINES)
        reader = threading.Thread(
            target=self._stream, args=(tuner_id, process), name=f"regsearch-{tuner_id}", daemon=True
        )
        reader.start()
        self._readers[tuner_id] = reader
        return process

    def kill(self, tuner_id: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL by default) to one process."""
        process = self.processes[tuner_id]
        if process.poll() is None:
            process.send_signal(sig)

    def wait(self, tuner_id: str, timeout: float) -> int:
        """Wait at most ``timeout`` seconds for a process to exit; its exit status."""
        code = self.processes[tuner_id].wait(timeout=timeout)
        reader = self._readers.get(tuner_id)
        if reader is not None:
            reader.join(timeout=5.0)
        return code

    def running(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is None]

    def status(self) -> dict[str, Any] | None:
        """What the chief wrote: its project directory, and how the search ended."""
        try:
            with open(self.status_file, encoding="utf-8") as file:
                return dict(json.load(file))
        except (OSError, ValueError):
            return None

    def tail(self, tuner_id: str) -> str:
        return "\n".join(self.logs.get(tuner_id, ()))

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate every process still running (the chief last, so it saves)."""
        names = sorted(self.running(), key=lambda name: name == "chief")
        for name in names:
            self.kill(name, signal.SIGTERM)
            try:
                self.wait(name, timeout)
            except subprocess.TimeoutExpired:
                self.kill(name, signal.SIGKILL)
                self.wait(name, timeout)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
        self._tmp.cleanup()


@dataclasses.dataclass
class DistributedRun:
    """What ``run_distributed`` reports.

    Attributes:
        project_dir: The chief's project directory (every trial's ``trial.json``).
        complete: Whether the search ended normally (every trial ended).
        message: The chief's last word (names missing workers, if any).
        missing_workers: Worker id -> the trial it was running when it went missing.
        exit_codes: Exit status of every process, by id.
        results: ``regsearch.results`` of the chief's directory.
        wall_time: Seconds from the start of the chief to the end of the search.
    """

    project_dir: str
    complete: bool
    message: str
    missing_workers: dict[str, str | None]
    exit_codes: dict[str, int | None]
    results: pd.DataFrame | None
    wall_time: float


def _read_results(project_dir: str) -> pd.DataFrame | None:
    try:
        return results(open_search(project_dir))
    except ValueError:  # no trial ended
        return None


def _wait_for_chief(
    cluster: LocalCluster, workers: list[str], *, start: float, timeout: float | None
) -> None:
    """Wait until the chief exits; stop everything on ``timeout`` or when every worker failed."""
    while cluster.processes["chief"].poll() is None:
        if timeout is not None and time.monotonic() - start > timeout:
            cluster.stop()
            raise TimeoutError(
                f"The distributed search did not end within {timeout:g} s; every process "
                f"was stopped. Ended trials are kept in the chief's directory "
                f"({(cluster.status() or {}).get('project_dir', 'unknown')})."
            )
        failed = [w for w in workers if cluster.processes[w].poll() not in (None, 0)]
        if len(failed) == len(workers):
            cluster.stop()
            raise RuntimeError(
                f"Every worker failed; the last lines of {failed[0]!r}:\n{cluster.tail(failed[0])}"
            )
        time.sleep(0.2)


def _stop(
    cluster: LocalCluster, workers: list[str]
) -> tuple[dict[str, Any], dict[str, int | None]]:
    """Let the workers exit, stop the cluster; the chief's status and every exit code."""
    for name in workers:
        with contextlib.suppress(subprocess.TimeoutExpired):
            cluster.wait(name, _WORKER_EXIT_GRACE)
    cluster.stop()
    status = cluster.status()
    exit_codes = {name: p.returncode for name, p in cluster.processes.items()}
    chief = cluster.processes["chief"]
    if status is None or chief.returncode not in (0, EXIT_INCOMPLETE):
        raise RuntimeError(
            f"The chief failed (exit status {chief.returncode}); its last lines:\n"
            f"{cluster.tail('chief')}"
        )
    return status, exit_codes


def run_distributed(
    target: str | Callable[[], Any],
    *,
    n_workers: int = 2,
    port: int | None = None,
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    verbose: bool = True,
) -> DistributedRun:
    """Run a distributed search on this machine: a chief and ``n_workers`` workers.

    Every process is a separate Python process on 127.0.0.1 (a free port), set
    up by the three ``KERASTUNER_*`` environment variables exactly as on several
    machines; their output is streamed with a ``[chief]``/``[tuner0]`` prefix.

    The search is defined once, by a function with no arguments that every
    process calls and that returns ``(tuner, search_kwargs)``: a keras-tuner tuner
    (its ``directory`` is shared by all processes) and the keyword arguments of
    ``tuner.search``. Workers never delete the project (``overwrite=True``
    applies to the chief only).

    Args:
        target: ``"path/to/file.py:function"``, ``"package.module:function"``
            (the function defaults to ``make_search``) or a module-level function.
        n_workers: The number of workers (``tuner0`` ... ``tuner{n-1}``).
        port: The chief's port; a free one when ``None``.
        worker_timeout: Seconds after which the chief counts a silent worker as
            missing (its running trial is queued again) and, when no worker at
            all is heard from, ends the search keeping every ended trial.
        timeout: Seconds after which everything is stopped and ``TimeoutError``
            raised; ``None`` waits for the chief.
        env: Extra environment variables for every process.
        verbose: Stream the processes' output and print the results table.

    Returns:
        A ``DistributedRun`` with the results table of the chief's directory.

    Raises:
        RuntimeError: the chief failed, or every worker failed.
        TimeoutError: ``timeout`` passed.

    Examples:
        >>> run = regsearch.run_distributed("search.py:make_search", n_workers=2)  # doctest: +SKIP
        >>> run.results.sort_values("score").head()  # doctest: +SKIP
    """
    n_workers = check_int("n_workers", n_workers, minimum=1)
    if timeout is not None:
        timeout = check_float("timeout", timeout, minimum=0.0, exclusive_minimum=True)
    start = time.monotonic()
    output = sys.stdout if verbose else None
    with LocalCluster(
        target, port=port, worker_timeout=worker_timeout, env=env, output=output
    ) as cluster:
        workers = [f"tuner{i}" for i in range(n_workers)]
        for name in ["chief", *workers]:
            cluster.start(name)
        _wait_for_chief(cluster, workers, start=start, timeout=timeout)
        wall_time = time.monotonic() - start
        status, exit_codes = _stop(cluster, workers)
    table = _read_results(status["project_dir"])
    run = DistributedRun(
        project_dir=status["project_dir"],
        complete=status.get("state") == "complete",
        message=str(status.get("message", "")),
        missing_workers=dict(status.get("missing", {})),
        exit_codes=exit_codes,
        results=table,
        wall_time=wall_time,
    )
    if verbose and table is not None:
        print(format_table(table))
    return run
