"""Time training steps of one small Conv model under each regsearch weight regularizer.

Each regularizer goes on both conv kernels of the same model (Conv1D with 31 taps,
Conv2D 3x3, then a plain Dense). Runs are interleaved: every round times ``--steps``
compiled train steps of each model, in an order rotated from round to round. Each
round gives every regularizer a ratio to Keras's L2 timed in that same round, so a
change in machine load between rounds cancels; the script prints the median ratio
over the rounds (target: <= 1.05) with its spread (quartiles and range).

    KERAS_BACKEND=tensorflow python benchmarks/bench_regularizers.py [--rounds 41]
    KERAS_BACKEND=jax python benchmarks/bench_regularizers.py  # pip install "regsearch[jax]"
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

from regsearch.regularizers import GroupLasso, KernelLength, Orthogonal

REGULARIZERS = {
    "L2 (Keras)": lambda: keras.regularizers.L2(1e-3),
    "KernelLength": lambda: KernelLength(1e-3),
    "GroupLasso": lambda: GroupLasso(1e-3),
    "Orthogonal": lambda: Orthogonal(1e-3),
}


def build(make_regularizer):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64, 8))
    h = keras.layers.Conv1D(16, 31, padding="same", kernel_regularizer=make_regularizer())(inputs)
    h = keras.layers.Reshape((64, 16, 1))(h)
    h = keras.layers.Conv2D(8, 3, strides=2, kernel_regularizer=make_regularizer())(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(4)(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch_size, 64, 8)).astype("float32")
    y = rng.normal(size=(args.batch_size, 4)).astype("float32")
    models = {name: build(make) for name, make in REGULARIZERS.items()}
    for model in models.values():  # compile the train step outside the timing
        model.train_on_batch(x, y)

    times: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for round_index in range(args.rounds):
        # Rotate the order every round so no regularizer always runs first.
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            model = models[name]
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            times[name].append((time.perf_counter() - start) / args.steps)
    report(times, baseline="L2 (Keras)", target=1.05)


def report(times: dict[str, list[float]], *, baseline: str, target: float) -> None:
    """Print, per regularizer, the median time and the per-round ratios to ``baseline``."""
    rounds = len(times[baseline])
    print(f"backend={keras.backend.backend()} rounds={rounds}")
    print(
        f"{'regularizer':<14} {'median ms/step':>15} {'median ratio':>13} "
        f"{'quartiles':>13} {'range':>13}  target <= {target}"
    )
    for name, values in times.items():
        ratios = sorted(v / b for v, b in zip(values, times[baseline]))
        median = statistics.median(ratios)
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        verdict = "" if name == baseline else ("met" if median <= target else "MISSED")
        print(
            f"{name:<14} {1e3 * statistics.median(values):>15.3f} {median:>13.3f} "
            f"{q1:>6.3f}..{q3:<5.3f} {ratios[0]:>6.3f}..{ratios[-1]:<5.3f}  {verdict}"
        )


if __name__ == "__main__":
    main()
