"""The ``regsearch`` command (also ``python -m regsearch``).

Subcommands:
    demo         the main job on digits (see ``regsearch demo --help``)
    report       results table, Pareto front and pareto.png of a saved search
    distributed  a distributed search: locally (chief + N workers), or one node
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

_PROG = "regsearch"


def _error(command: str, error: BaseException, code: int = 2) -> int:
    print(f"{_PROG} {command}: error: {error}", file=sys.stderr)
    return code


# --------------------------------------------------------------------------- demo
def _add_demo(parser: argparse.ArgumentParser) -> None:
    from regsearch import _demo

    _demo.add_arguments(parser)


def _demo(args: argparse.Namespace) -> int:
    from regsearch import _demo

    try:
        return _demo.main(args)
    except ValueError as error:
        return _error("demo", error)


# ------------------------------------------------------------------------- report
def _add_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", help="the tuner's directory (or its project folder)")
    parser.add_argument("--project", default=None, help="the tuner's project_name")
    parser.add_argument(
        "--objectives",
        nargs=2,
        default=("val_loss", "trimmed_params"),
        metavar=("X", "Y"),
        help="the two objectives of the Pareto front (default: val_loss trimmed_params)",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="folder for pareto.png (default: the search's project folder)",
    )


def _report(args: argparse.Namespace) -> int:
    from regsearch.distributed import open_search
    from regsearch.plotting import plot_pareto
    from regsearch.search import format_table, metric_column, pareto_front, results

    try:
        tuner = open_search(args.directory, project_name=args.project)
    except (FileNotFoundError, ValueError) as error:
        return _error("report", error)
    table = results(tuner)
    print(f"Search: {tuner.project_dir}")
    print(format_table(table))
    try:
        front = pareto_front(tuner, tuple(args.objectives))
    except ValueError as error:
        return _error("report", error)
    if front.empty:
        print("\nNo trial finished: there is no Pareto front.")
        return 0
    keys = [
        "trial_id",
        *(metric_column(name, front.to_dict("records")) for name in args.objectives),
        "score",
    ]
    print(f"\nPareto front ({args.objectives[0]} vs {args.objectives[1]}):")
    print(format_table(front[list(dict.fromkeys(keys))]))
    figure = plot_pareto(tuner, tuple(args.objectives))
    out = Path(args.out) if args.out else Path(tuner.project_dir)
    out.mkdir(parents=True, exist_ok=True)
    figure.savefig(out / "pareto.png", dpi=120)
    print(f"\nWrote {out / 'pareto.png'}")
    return 0


# -------------------------------------------------------------------- distributed
def _add_distributed(parser: argparse.ArgumentParser) -> None:
    from regsearch.distributed import DEFAULT_WORKER_TIMEOUT

    parser.add_argument(
        "target",
        help="the search definition: path/to/file.py:function or package.module:function, "
        "a function with no arguments returning (tuner, search_kwargs)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="number of local workers (default: 2)"
    )
    parser.add_argument("--port", type=int, default=None, help="the chief's port (default: free)")
    parser.add_argument(
        "--worker-timeout",
        type=float,
        default=DEFAULT_WORKER_TIMEOUT,
        help="seconds after which a silent worker counts as missing and, when no worker "
        f"is heard from, the search ends (default: {DEFAULT_WORKER_TIMEOUT:g})",
    )
    parser.add_argument(
        "--timeout", type=float, default=None, help="stop everything after this many seconds"
    )
    parser.add_argument(
        "--node",
        action="store_true",
        help="run this process as one node (chief or worker) set up by KERASTUNER_TUNER_ID, "
        "KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT: for several machines",
    )


def _distributed(args: argparse.Namespace) -> int:
    from regsearch.distributed import run_distributed, run_node

    try:
        if args.node:
            return run_node(args.target, worker_timeout=args.worker_timeout)
        run = run_distributed(
            args.target,
            n_workers=args.workers,
            port=args.port,
            worker_timeout=args.worker_timeout,
            timeout=args.timeout,
        )
    except (TypeError, ValueError) as error:
        return _error("distributed", error)
    except (RuntimeError, TimeoutError) as error:
        return _error("distributed", error, code=1)
    print(run.message)
    print(f"Search directory: {run.project_dir} ({run.wall_time:.1f} s)")
    return 0 if run.complete else 3


_COMMANDS = {
    "demo": (_add_demo, _demo, "run the main job on digits: a size-aware search, then report"),
    "report": (
        _add_report,
        _report,
        "print the results table and Pareto front of a saved search; write pareto.png",
    ),
    "distributed": (
        _add_distributed,
        _distributed,
        "run a search on keras-tuner's chief/worker engine (locally, or one node)",
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command's parser, with the arguments of subcommand ``command`` only.

    The other subcommands are listed with their help line: adding their arguments
    imports their modules (and Keras), which ``regsearch --help`` does not need.
    """
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Search which regularizers to put on which Keras layers.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (add, run, help_text) in _COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if name == command:
            add(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``regsearch`` command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
