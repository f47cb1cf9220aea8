"""One process of a distributed search: the chief or a worker, from the environment.

``KERASTUNER_TUNER_ID`` ("chief" for the chief, a unique id such as "tuner0" for
each worker), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` (where the
chief listens) say which; every process loads the same search definition.

Run as ``python -m regsearch.distributed._node TARGET`` by the local launcher;
users run ``regsearch distributed TARGET --node``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections import Counter
from typing import Any

from keras_tuner.engine.base_tuner import BaseTuner

from regsearch._compat.distribute import is_chief, silence_conditions_print, tuners_never_overwrite
from regsearch._validation import check_float
from regsearch.distributed import _chief
from regsearch.distributed._target import load_search, target_spec
from regsearch.distributed._worker import run_worker

# Exit status of a chief that stopped waiting for missing workers.
EXIT_INCOMPLETE = 3
DEFAULT_WORKER_TIMEOUT = 120.0
_VARIABLES = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def _environment() -> tuple[str, str]:
    missing = [name for name in _VARIABLES if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"A distributed search node needs the environment variables {list(_VARIABLES)}; "
            f"missing: {missing}. Set KERASTUNER_TUNER_ID=chief on the chief and a unique id "
            f"(tuner0, tuner1, ...) on each worker, and the chief's address in "
            f"KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT on every machine."
        )
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    return os.environ["KERASTUNER_TUNER_ID"], address


def _write_status(path: str | None, **status: Any) -> None:
    if not path:
        return
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(status, file)
    os.replace(temporary, path)


def _summary(tuner: BaseTuner) -> str:
    trials = tuner.oracle.trials
    counts = Counter(str(trial.status) for trial in trials.values())
    parts = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
    return f"regsearch: {len(trials)} trials ({parts or 'none'}) in {tuner.project_dir}."


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_chief(
    tuner: BaseTuner,
    search_kwargs: dict[str, Any],
    *,
    address: str,
    worker_timeout: float,
    status_file: str | None = None,
) -> int:
    """Serve the tuner's oracle to the workers until the search ends; the exit status."""
    oracle = tuner.oracle
    if "verbose" in search_kwargs:  # as BaseTuner.search does on the chief
        oracle.verbose = search_kwargs["verbose"]
    _chief.resume(oracle)
    tuner.save()
    server, servicer = _chief.start_server(oracle, address)
    project_dir = str(tuner.project_dir)
    status = {"project_dir": project_dir, "address": address, "pid": os.getpid()}
    _write_status(status_file, state="serving", **status)
    print(
        f"regsearch: chief serving {project_dir} at {address}; workers not heard from for "
        f"{worker_timeout:g} s count as missing.",
        flush=True,
    )
    try:
        outcome = _chief.wait(
            oracle,
            servicer,
            worker_timeout=worker_timeout,
            log=lambda line: print(line, flush=True),
        )
    except KeyboardInterrupt:
        outcome = _chief.ChiefOutcome(
            complete=False,
            missing={},
            message=(
                f"regsearch: the chief was interrupted; the ended trials are kept in "
                f"{project_dir}. Start it again with overwrite=False to go on."
            ),
        )
    finally:
        server.stop(grace=2.0)
    tuner.save()
    print(outcome.message, file=sys.stdout if outcome.complete else sys.stderr, flush=True)
    print(_summary(tuner), flush=True)
    _write_status(
        status_file,
        state="complete" if outcome.complete else "incomplete",
        message=outcome.message,
        missing=outcome.missing,
        **status,
    )
    return 0 if outcome.complete else EXIT_INCOMPLETE


def run_node(
    target: Any,
    *,
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT,
    status_file: str | None = None,
) -> int:
    """Run this process as the chief or a worker of a distributed search.

    The role and the chief's address come from ``KERASTUNER_TUNER_ID``,
    ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``. Start the same
    command on every machine, with those variables set per machine (see
    ``docs/distributed.md``).

    Args:
        target: The search definition: ``"path/to/file.py:function"``,
            ``"package.module:function"`` or a module-level function, returning
            ``(tuner, search_kwargs)``.
        worker_timeout: On the chief: seconds after which a worker not heard
            from counts as missing (its running trial is queued again), and after
            which the search ends when no worker is heard from at all.
        status_file: On the chief: a JSON file where it writes its project
            directory and, at the end, how the search ended.

    Returns:
        The exit status: 0, or 3 when the chief stopped waiting for missing
        workers.

    Examples:
        >>> # On every machine, with the KERASTUNER_* variables set:
        >>> regsearch.distributed.run_node("search.py:make_search")  # doctest: +SKIP
    """
    spec = target_spec(target)
    worker_timeout = check_float(
        "worker_timeout", worker_timeout, minimum=0.0, exclusive_minimum=True
    )
    tuner_id, address = _environment()
    silence_conditions_print()
    if is_chief():
        tuner, search_kwargs = load_search(spec)
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        return run_chief(
            tuner,
            search_kwargs,
            address=address,
            worker_timeout=worker_timeout,
            status_file=status_file,
        )
    with tuners_never_overwrite():
        tuner, search_kwargs = load_search(spec)
    run_worker(tuner, search_kwargs, address=address, tuner_id=tuner_id)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m regsearch.distributed._node")
    parser.add_argument("target")
    parser.add_argument("--worker-timeout", type=float, default=DEFAULT_WORKER_TIMEOUT)
    parser.add_argument("--status-file", default=None)
    args = parser.parse_args(argv)
    return run_node(args.target, worker_timeout=args.worker_timeout, status_file=args.status_file)


if __name__ == "__main__":
    sys.exit(main())
