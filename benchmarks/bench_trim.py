"""Inference latency of a model before and after `regsearch.trim`.

Two stacks whose weights are set so that trimming has something to remove:

(a) Conv1D: 31-tap kernels whose outer taps are zero trim to 5 taps.
(b) Conv2D: 5x5 kernels with a zero border trim to 3x3, and a third of the filters
    are dead (zero kernel, negative bias, ReLU: constant 0).

The original and trimmed models are timed interleaved on the same batch (256), the
median of several repeats is reported, and the measured speedup is printed next to
the MAC reduction. Run: ``python benchmarks/bench_trim.py [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import regsearch

L = keras.layers
BATCH = 256


def _weights(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random weights with |w| >= 0.02: none counts as zero except those set to 0."""
    w = rng.normal(scale=0.05, size=shape)
    return (np.sign(w) * (0.02 + np.abs(w))).astype("float32")


def conv1d_stack(rng: np.random.Generator) -> keras.Model:
    model = keras.Sequential(
        [keras.Input((256, 64))]
        + [L.Conv1D(64, 31, padding="same", activation="relu") for _ in range(3)]
        + [L.GlobalAveragePooling1D(), L.Dense(10)]
    )
    for layer in model.layers[:3]:
        kernel, bias = layer.get_weights()
        kernel = _weights(rng, kernel.shape)
        kernel[:13] = 0.0
        kernel[18:] = 0.0
        layer.set_weights([kernel, bias])
    return model


def conv2d_stack(rng: np.random.Generator) -> keras.Model:
    model = keras.Sequential(
        [keras.Input((32, 32, 32))]
        + [L.Conv2D(48, 5, padding="same", activation="relu") for _ in range(3)]
        + [L.GlobalAveragePooling2D(), L.Dense(10)]
    )
    for layer in model.layers[:3]:
        kernel, bias = layer.get_weights()
        kernel = _weights(rng, kernel.shape)
        kernel[[0, -1]] = 0.0
        kernel[:, [0, -1]] = 0.0
        dead = rng.choice(kernel.shape[-1], kernel.shape[-1] // 3, replace=False)
        kernel[..., dead] = 0.0
        bias = np.full_like(bias, 0.1)
        bias[dead] = -1.0
        layer.set_weights([kernel, bias])
    return model


def _time(model: keras.Model, x: np.ndarray) -> float:
    start = time.perf_counter()
    model.predict_on_batch(x)
    return time.perf_counter() - start


def run(name: str, model: keras.Model, repeats: int) -> None:
    x = np.random.default_rng(1).normal(size=(BATCH, *model.input_shape[1:])).astype("float32")
    trimmed, report = regsearch.trim(model, sample=x[:8])
    for m in (model, trimmed):  # compile the predict functions, warm caches
        for _ in range(2):
            m.predict_on_batch(x)
    before, after = [], []
    for _ in range(repeats):  # interleaved
        before.append(_time(model, x))
        after.append(_time(trimmed, x))
    t0, t1 = statistics.median(before), statistics.median(after)
    mac_ratio = report.macs_before / report.macs_after
    speedup = t0 / t1
    print(
        f"{name:<8} MACs {report.macs_before / 1e6:8.1f}M -> {report.macs_after / 1e6:7.1f}M "
        f"(x{mac_ratio:4.2f})  latency {t0 * 1e3:7.1f} ms -> {t1 * 1e3:6.1f} ms "
        f"(x{speedup:4.2f})  speedup / MAC reduction = {speedup / mac_ratio:4.2f}  "
        f"max|err| {report.max_abs_error:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    print(
        f"batch {BATCH}, median of {args.repeats} interleaved runs, "
        f"backend {keras.backend.backend()}"
    )
    run("conv1d", conv1d_stack(rng), args.repeats)
    run("conv2d", conv2d_stack(rng), args.repeats)


if __name__ == "__main__":
    main()
