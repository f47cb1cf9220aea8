"""Wall time of one 8-trial regsearch search: local, distributed with 1 and 2 workers.

Every run is a fresh process tree (process start and TensorFlow import included,
as a user sees it): ``local`` runs ``tuner.search`` in one process; ``dist-1`` and
``dist-2`` run a chief and 1 or 2 workers through ``regsearch.run_distributed``.
The three are interleaved, ``--repeats`` times (median reported), and printed with

- speed-up of 2 workers over 1: ``dist-1 / dist-2``;
- overhead of distributed mode with 1 worker: ``dist-1 / local``.

Run: ``KERAS_BACKEND=tensorflow python benchmarks/bench_distributed.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRIALS = 8
TARGET = f"{Path(__file__).resolve()}:make_search"


def make_search():
    import keras
    import keras_tuner
    import numpy as np

    import regsearch

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2048, 16)).astype("float32")
    y = (x[:, :4] @ rng.normal(size=(4, 1))).astype("float32")
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(32, activation="relu", name="hidden"),
            keras.layers.Dense(1, name="out"),
        ]
    )
    hypermodel = regsearch.RegSearchHyperModel(
        model,
        regsearch.SearchSpace(kernel=["none", "l1", "l2"]),
        compile={"optimizer": "adam", "loss": "mse"},
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss", size_weight=0.1),
        max_trials=TRIALS,
        directory=os.environ["BENCH_DIR"],
        project_name="bench",
        overwrite=True,
        seed=1,
    )
    return tuner, {
        "x": x,
        "y": y,
        "validation_split": 0.25,
        "epochs": 6,
        "batch_size": 64,
        "verbose": 0,
    }


_LOCAL = (
    "from regsearch.distributed._target import load_search\n"
    "import sys\n"
    "tuner, kwargs = load_search(sys.argv[1])\n"
    "tuner.search(**kwargs)\n"
    "assert len(tuner.oracle.trials) == {trials}\n"
)


def _environment(directory: str) -> dict[str, str]:
    root = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    env.update(
        BENCH_DIR=directory,
        KERAS_BACKEND=env.get("KERAS_BACKEND", "tensorflow"),
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=os.pathsep.join([root, env.get("PYTHONPATH", "")]),
    )
    return env


def run_local(directory: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _LOCAL.format(trials=TRIALS), TARGET],
        env=_environment(directory),
        check=True,
        timeout=1800,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def run_distributed(directory: str, n_workers: int) -> float:
    script = (
        "import sys, regsearch\n"
        f"run = regsearch.run_distributed(sys.argv[1], n_workers={n_workers}, timeout=1800, "
        "verbose=False)\n"
        f"assert run.complete and len(run.results) == {TRIALS}, run.message\n"
    )
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", script, TARGET],
        env=_environment(directory),
        check=True,
        timeout=1900,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"local": [], "dist-1": [], "dist-2": []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for name in times:
                directory = os.path.join(tmp, f"{name}-{repeat}")
                if name == "local":
                    seconds = run_local(directory)
                else:
                    seconds = run_distributed(directory, int(name[-1]))
                times[name].append(seconds)
                print(f"repeat {repeat + 1}/{args.repeats} {name:7s} {seconds:7.1f} s", flush=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"\n{TRIALS}-trial search, median of {args.repeats}, {os.cpu_count()} CPU cores, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}"
    )
    for name, value in median.items():
        print(f"  {name:7s} {value:7.1f} s")
    speed_up = median["dist-1"] / median["dist-2"]
    overhead = median["dist-1"] / median["local"]
    print(f"  speed-up, 2 workers vs 1 (dist-1 / dist-2):               {speed_up:.2f}x")
    print(f"  overhead, distributed 1 worker vs local (dist-1 / local): {overhead:.2f}x")


if __name__ == "__main__":
    main()
