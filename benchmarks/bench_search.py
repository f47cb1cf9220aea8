"""Per-trial wall time: a regsearch search vs a plain keras-tuner search.

Both searches train the same Conv1D models for the same epochs on the same data.
The plain one is the hand-written build users write without regsearch
(``kernel_regularizer=keras.regularizers.l2(hp.Float(...))``); the regsearch one
adds the score callback (trimmed size at every epoch end, weights snapped before
validation) and the data-loss metric. Runs alternate, and the median per-trial
time of each is compared. Target: ratio <= 1.05.

    python benchmarks/bench_search.py [--repeats 5] [--trials 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The synthetic task is a test fixture (tests/_filter_task.py); run from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras
import keras_tuner

import regsearch
from tests._filter_task import filter_task

LENGTH = 64


def _layers(regularizer=None):
    return [
        keras.Input((LENGTH, 1)),
        keras.layers.Conv1D(8, 15, padding="same", name="conv1", kernel_regularizer=regularizer),
        keras.layers.Conv1D(1, 15, padding="same", name="conv2", kernel_regularizer=regularizer),
    ]


def plain_tuner(directory: str, trials: int) -> keras_tuner.Tuner:
    def build(hp):
        strength = hp.Float("l2", 1e-5, 1e-2, sampling="log")
        model = keras.Sequential(_layers(keras.regularizers.l2(strength)))
        model.compile(optimizer="adam", loss="mse")
        return model

    return keras_tuner.RandomSearch(
        build, objective="val_loss", max_trials=trials, directory=directory, seed=0
    )


def regsearch_tuner(directory: str, trials: int) -> keras_tuner.Tuner:
    hypermodel = regsearch.RegSearchHyperModel(
        keras.Sequential(_layers()),
        regsearch.SearchSpace(kernel=["l2"], strength=(1e-5, 1e-2)),
        compile={"optimizer": "adam", "loss": "mse"},
    )
    return keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss", size_weight=0.1),
        max_trials=trials,
        directory=directory,
        seed=0,
    )


def time_search(make, trials: int, x, y, epochs: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        keras.utils.set_random_seed(0)
        tuner = make(directory, trials)
        start = time.perf_counter()
        tuner.search(x, y, validation_split=0.2, epochs=epochs, batch_size=64, verbose=0)
        return (time.perf_counter() - start) / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    x, y = filter_task(n=2048, length=LENGTH)
    times: dict[str, list[float]] = {"plain": [], "regsearch": []}
    for _ in range(args.repeats):
        times["plain"].append(time_search(plain_tuner, args.trials, x, y, args.epochs))
        times["regsearch"].append(time_search(regsearch_tuner, args.trials, x, y, args.epochs))
    plain = statistics.median(times["plain"])
    ours = statistics.median(times["regsearch"])
    print(f"per-trial wall time, median of {args.repeats} interleaved runs")
    print(f"  plain keras-tuner : {plain:.3f} s")
    print(f"  regsearch         : {ours:.3f} s")
    print(f"  ratio regsearch / plain: {ours / plain:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
