"""Figures of the kernel-length search (the test in tests/test_kernel_length_search.py).

A size-aware search over ["none", "l1", "kernel_length"] on signals filtered by a
known 5-tap filter, for a model with one 31-tap Conv1D. Prints the taps of the
best trimmed model, its validation MSE next to the unregularized model's, and
the parameter and MAC ratios.

    python benchmarks/bench_kernel_length_search.py [--trials 10] [--epochs 15]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The synthetic task is a test fixture (tests/_filter_task.py); run from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras
import keras_tuner

import regsearch
from tests._filter_task import filter_task, long_kernel_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    x, y = filter_task(n=512, seed=args.seed)
    x_val, y_val = filter_task(n=256, seed=args.seed + 1)

    keras.utils.set_random_seed(args.seed)
    baseline = long_kernel_model()
    baseline.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    baseline.fit(x, y, epochs=args.epochs, batch_size=32, verbose=0)
    baseline_mse = baseline.evaluate(x_val, y_val, verbose=0)

    keras.utils.set_random_seed(args.seed)
    with tempfile.TemporaryDirectory() as directory:
        tuner = keras_tuner.RandomSearch(
            regsearch.RegSearchHyperModel(
                long_kernel_model(),
                regsearch.SearchSpace(
                    kernel=["none", "l1", "kernel_length"], strength=(1e-4, 1e-1)
                ),
                compile={"optimizer": keras.optimizers.Adam(0.01), "loss": "mse"},
                # Adam(0.01) leaves weights the penalty has emptied jittering around 1e-3.
                trim_threshold=3e-3,
            ),
            objective=regsearch.Objective("val_loss", size_weight=0.05),
            max_trials=args.trials,
            directory=directory,
            seed=args.seed,
        )
        tuner.search(
            x, y, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=32, verbose=0
        )
        best = regsearch.best_model(tuner, trimmed=True)
        chosen = tuner.oracle.get_best_trials(1)[0].hyperparameters.values
    (conv,) = [layer for layer in best.layers if isinstance(layer, keras.layers.Conv1D)]
    mse = best.evaluate(x_val, y_val, verbose=0, return_dict=True)["loss"]
    size = regsearch.trimmed_size(baseline)
    print(f"chosen hyperparameters: {chosen}")
    print(f"taps: 31 -> {conv.kernel.shape[0]} (true filter: 5; target <= 7)")
    print(
        f"val MSE: best trimmed {mse:.4f} vs unregularized {baseline_mse:.4f} "
        f"(ratio {mse / baseline_mse:.3f}; target <= 1.2)"
    )
    print(
        f"params: {size.params_before} -> {best.count_params()} "
        f"(ratio {best.count_params() / size.params_before:.3f})"
    )


if __name__ == "__main__":
    main()
