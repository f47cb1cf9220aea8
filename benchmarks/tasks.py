"""The tasks the benchmarks run on: data, a base model, and its architecture-search space.

- ``digits``: the demo's (8x8 digits, two 5x5 Conv2D of 16 filters, a Dense head),
  the task regsearch's absolute default strengths were measured on;
- ``signals``: synthetic 1-D signals, four waveform classes (sine, square, sawtooth,
  triangle) at random frequencies and phases in colored (AR(1), red) noise, 128
  samples; three Conv1D layers (16, 32, 32 filters of 9 taps, max pooling between)
  and a Dense head;
- ``shifted``: a held-out task, written once and kept fixed, never used to choose a
  default: the digits placed at a random position of a 12x12 canvas, contrast
  0.5-1, Gaussian noise (0.1); Conv2D 24 5x5, max pooling, Conv2D 48 5x5, global
  average pooling, a Dense head (about 81% test accuracy after 25 epochs: the base
  needs its capacity).

Every task has the same splits (60% train, 20% validation, 20% test, stratified by
the seed) and the same architecture-search space: per conv, ``filters`` in {1/8,
1/4, 1/2, 1} of the base's and ``kernel_size`` in {1, 3, the base's}.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

L = keras.layers
FACTORS = (1.0, 0.5, 0.25, 0.125)


@dataclasses.dataclass(frozen=True)
class Task:
    """A benchmark task: its data, its base model's convolutions, and how it trains."""

    name: str
    data: Callable[[int], tuple[np.ndarray, ...]]
    input_shape: tuple[int, ...]
    convs: tuple[tuple[int, int], ...]  # (filters, kernel size) of each conv, in order
    pool_after: tuple[bool, ...]  # max pooling (2) after the conv
    global_pool: bool  # global average pooling before the head, else Flatten
    optimizer: Callable[[], keras.optimizers.Optimizer]
    batch_size: int = 64

    @property
    def kernel_sizes(self) -> tuple[int, ...]:
        """The largest kernel sizes an architecture (or regsearch) search may choose."""
        return tuple(sorted({1, 3, max(k for _, k in self.convs)}))

    def model(
        self, filters: tuple[int, ...] | None = None, kernels: tuple[int, ...] | None = None
    ) -> keras.Model:
        """The base model, or the same layers at other widths and kernel sizes."""
        filters = filters or tuple(f for f, _ in self.convs)
        kernels = kernels or tuple(k for _, k in self.convs)
        conv = L.Conv1D if len(self.input_shape) == 2 else L.Conv2D
        pool = L.MaxPooling1D if len(self.input_shape) == 2 else L.MaxPooling2D
        inputs = keras.Input(self.input_shape)
        x = inputs
        for i, (f, k, pooled) in enumerate(zip(filters, kernels, self.pool_after), start=1):
            x = conv(f, k, padding="same", activation="relu", name=f"conv{i}")(x)
            x = pool(2)(x) if pooled else x
        if self.global_pool:
            x = (L.GlobalAveragePooling1D if conv is L.Conv1D else L.GlobalAveragePooling2D)()(x)
        else:
            x = L.Flatten()(x)
        return keras.Model(inputs, L.Dense(self.classes, activation="softmax", name="head")(x))

    @property
    def classes(self) -> int:
        return 4 if self.name == "signals" else 10

    def compile_arguments(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer(),
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        }

    def architecture_model(self, hp: Any) -> keras.Model:
        """keras-tuner's build function: the widths and kernel sizes of every conv."""
        filters, kernels = [], []
        for i, (f, _) in enumerate(self.convs, start=1):
            choices = sorted({max(1, round(f * factor)) for factor in FACTORS})
            filters.append(hp.Choice(f"conv{i}_filters", choices))
            kernels.append(hp.Choice(f"conv{i}_kernel", list(self.kernel_sizes)))
        model = self.model(tuple(filters), tuple(kernels))
        model.compile(**self.compile_arguments())
        return model


def _split(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, ...]:
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed
    )
    x_train, x_val, y_train, y_val = train_test_split(
        x_train, y_train, test_size=0.25, stratify=y_train, random_state=seed
    )
    return tuple(np.ascontiguousarray(a) for a in (x_train, y_train, x_val, y_val, x_test, y_test))


def digits(seed: int) -> tuple[np.ndarray, ...]:
    data = load_digits()
    return _split((data.images / 16.0).astype("float32")[..., None], data.target, seed)


def signals(seed: int, count: int = 2000, length: int = 128) -> tuple[np.ndarray, ...]:
    """Four waveforms at random frequency, phase and amplitude in red noise."""
    rng = np.random.default_rng(1000 + seed)
    y = rng.integers(0, 4, count)
    t = np.arange(length)[None, :]
    frequency = rng.uniform(1 / 40, 1 / 10, (count, 1))
    phase = (frequency * t + rng.uniform(0, 1, (count, 1))) % 1.0
    waves = np.stack(
        [
            np.sin(2 * np.pi * phase),
            np.sign(np.sin(2 * np.pi * phase)),
            2 * phase - 1,
            2 * np.abs(2 * phase - 1) - 1,
        ]
    )
    clean = waves[y, np.arange(count)] * rng.uniform(0.5, 1.5, (count, 1))
    noise = np.zeros((count, length))
    white = rng.normal(0, 1, (count, length))
    for i in range(1, length):  # AR(1) noise: most of its power at low frequencies
        noise[:, i] = 0.9 * noise[:, i - 1] + white[:, i]
    x = clean + 0.35 * noise / noise.std()
    return _split(x.astype("float32")[..., None], y, seed)


def shifted(seed: int, canvas: int = 12) -> tuple[np.ndarray, ...]:
    """Digits at random positions of a larger canvas, random contrast, noise."""
    data = load_digits()
    rng = np.random.default_rng(2000 + seed)
    count = len(data.target)
    x = np.zeros((count, canvas, canvas), "float32")
    for i, image in enumerate(data.images / 16.0):
        row, col = rng.integers(0, canvas - 8 + 1, 2)
        x[i, row : row + 8, col : col + 8] = image * rng.uniform(0.5, 1.0)
    x += rng.normal(0, 0.1, x.shape).astype("float32")
    return _split(x[..., None], data.target, seed)


TASKS = {
    "digits": Task(
        "digits", digits, (8, 8, 1), ((16, 5), (16, 5)), (False, False), False,
        lambda: keras.optimizers.SGD(0.1, momentum=0.9),
    ),
    "signals": Task(
        "signals", signals, (128, 1), ((16, 9), (32, 9), (32, 9)), (True, True, False), True,
        lambda: keras.optimizers.Adam(3e-3),
    ),
    "shifted": Task(
        "shifted", shifted, (12, 12, 1), ((24, 5), (48, 5)), (True, False), True,
        lambda: keras.optimizers.Adam(3e-3),
    ),
}  # fmt: skip
