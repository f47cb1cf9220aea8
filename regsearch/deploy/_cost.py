"""What a model costs where it runs: its LiteRT file size and measured latency."""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from regsearch._validation import check_int
from regsearch.deploy._interpreter import feed, find_runtime, load
from regsearch.deploy._litert import check_quantize, litert_bytes

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@dataclasses.dataclass(frozen=True)
class DeploymentCost:
    """A model's LiteRT file size and its latency measured in the LiteRT interpreter.

    Attributes:
        file_bytes: Size of the ``.tflite`` file, in bytes.
        latency_ms: Median wall time of one ``invoke()`` (one batch), in
            milliseconds, over ``repeats`` runs after the warm-up.
        latency_quartiles_ms: The 25th and 75th percentiles of those runs: their
            spread says how much the machine's load moved the median.
        batch_size: Samples per ``invoke()``.
        threads: Interpreter threads.
        quantize: The conversion's ``quantize`` (``None``: float32).
        runtime: The LiteRT runtime that ran the file, e.g.
            ``"ai_edge_litert 2.3.0"``.
        repeats: Timed runs.

    Examples:
        >>> import keras, regsearch
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> cost = regsearch.deployment_cost(model, threads=2, repeats=3)
        >>> (cost.batch_size, cost.threads, cost.quantize, cost.repeats)
        (1, 2, None, 3)
    """

    file_bytes: int
    latency_ms: float
    latency_quartiles_ms: tuple[float, float]
    batch_size: int
    threads: int
    quantize: str | None
    runtime: str
    repeats: int


def _inputs(model: keras.Model, batch_size: int, data: Any) -> list[np.ndarray]:
    """One batch per model input: the first samples of ``data``, or seeded noise."""
    if data is not None:
        given = list(data) if isinstance(data, (list, tuple)) else [data]
        arrays = [np.asarray(a, "float32") for a in given]
        return [np.resize(a, (batch_size, *a.shape[1:])) for a in arrays]
    rng = np.random.default_rng(0)
    return [
        rng.normal(size=(batch_size, *tensor.shape[1:])).astype("float32")
        for tensor in model.inputs
    ]


def _timed_runs(interpreter: Any, *, warmup: int, repeats: int) -> list[float]:
    """Milliseconds per ``invoke()``, one entry per timed run."""
    for _ in range(warmup):
        interpreter.invoke()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def deployment_cost(
    model: keras.Model,
    *,
    batch_size: int = 1,
    threads: int = 1,
    quantize: str | None = None,
    representative_data: ArrayLike | Sequence[ArrayLike] | None = None,
    warmup: int = 5,
    repeats: int = 50,
) -> DeploymentCost:
    """Convert ``model`` to LiteRT and measure its file size and median latency.

    The model is converted as ``regsearch.export`` converts it, with the batch
    fixed to ``batch_size``, and run in the LiteRT interpreter (``ai_edge_litert``
    when installed, else TensorFlow's copy) with its default CPU delegate, XNNPack,
    on ``threads`` threads: ``warmup`` untimed runs, then ``repeats`` timed ones.
    The latency is a wall-clock time on this machine, so other processes sharing
    its cores raise it; compare models measured in the same session.

    Args:
        model: A built Sequential or functional Keras model (not changed).
        batch_size: Samples per run.
        threads: Interpreter threads.
        quantize: As in ``regsearch.export``: ``None``, ``"float16"``,
            ``"dynamic"`` or ``"int8"``.
        representative_data: Input samples: ``"int8"`` calibrates on them (as in
            ``regsearch.export``), and the timed runs are fed the first
            ``batch_size`` of them. Without them the runs are fed seeded noise.
        warmup: Untimed runs first (the delegate prepares itself on the first).
        repeats: Timed runs; the median is reported.

    Returns:
        A ``DeploymentCost``.

    Raises:
        ModuleNotFoundError: when no LiteRT runtime is installed (the message says
            ``pip install "regsearch[litert]"``).
        RuntimeError: on a Keras backend other than TensorFlow.

    Examples:
        >>> import keras, regsearch
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
        >>> cost = regsearch.deployment_cost(model, repeats=5)
        >>> cost.file_bytes > 0 and cost.latency_ms > 0
        True
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    threads = check_int("threads", threads, minimum=1)
    warmup = check_int("warmup", warmup, minimum=0)
    repeats = check_int("repeats", repeats, minimum=1)
    quantize = check_quantize(quantize)
    runtime = find_runtime()  # before converting: a missing runtime fails at once
    content = litert_bytes(
        model, quantize=quantize, representative_data=representative_data, batch_size=batch_size
    )
    interpreter = load(content, runtime=runtime, threads=threads, batch_size=batch_size)
    feed(interpreter, _inputs(model, batch_size, representative_data))
    times = _timed_runs(interpreter, warmup=warmup, repeats=repeats)
    low, _, high = statistics.quantiles(times, n=4) if repeats > 1 else (times[0],) * 3
    return DeploymentCost(
        file_bytes=len(content),
        latency_ms=statistics.median(times),
        latency_quartiles_ms=(low, high),
        batch_size=batch_size,
        threads=threads,
        quantize=quantize,
        runtime=runtime.name,
        repeats=repeats,
    )
