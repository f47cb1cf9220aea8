"""What a model costs where it runs: its LiteRT file size and measured latency."""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from regsearch._validation import check_bool, check_int
from regsearch.deploy._interpreter import feed, find_runtime, load
from regsearch.deploy._litert import check_io_dtype, check_quantize, litert_bytes

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@dataclasses.dataclass(frozen=True)
class DeploymentCost:
    """A model's LiteRT file size and its latency measured in the LiteRT interpreter.

    Attributes:
        file_bytes: Size of the ``.tflite`` file, in bytes.
        latency_ms: Time of one ``invoke()`` (one batch), in milliseconds: the
            fastest of ``repeats`` samples, each the mean of ``number`` back-to-back
            runs (see ``deployment_cost``).
        latency_quartiles_ms: The 25th and 75th percentiles of those samples'
            means: their spread says how much the machine's load moved them.
        batch_size: Samples per ``invoke()``.
        threads: Interpreter threads.
        quantize: The conversion's ``quantize`` (``None``: float32).
        runtime: The LiteRT runtime that ran the file, e.g.
            ``"ai_edge_litert 2.3.0"``.
        repeats: Timed samples.
        number: Runs per timed sample.

    Examples:
        >>> import keras, regsearch
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> cost = regsearch.deployment_cost(model, threads=2, repeats=3, number=10)
        >>> (cost.batch_size, cost.threads, cost.quantize, cost.repeats, cost.number)
        (1, 2, None, 3, 10)
    """

    file_bytes: int
    latency_ms: float
    latency_quartiles_ms: tuple[float, float]
    batch_size: int
    threads: int
    quantize: str | None
    runtime: str
    repeats: int
    number: int = 1


# ``number=None`` makes each timed sample last at least this long (seconds): long
# enough that the timer and Python's call overhead vanish from a microsecond run,
# short enough that most samples fit between two of the scheduler's time slices.
SAMPLE_SECONDS = 1e-3
_MAX_NUMBER = 10_000


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


def runs_per_sample(seconds_per_run: float, target: float = SAMPLE_SECONDS) -> int:
    """How many back-to-back runs make one timed sample last at least ``target`` seconds.

    >>> runs_per_sample(2e-6), runs_per_sample(5e-3), runs_per_sample(0.0)
    (500, 1, 10000)
    """
    if seconds_per_run <= 0:
        return _MAX_NUMBER
    return max(1, min(_MAX_NUMBER, math.ceil(round(target / seconds_per_run, 6))))


def _timed_runs(
    interpreter: Any, *, warmup: int, repeats: int, number: int | None
) -> tuple[list[float], int]:
    """Milliseconds per ``invoke()``: one mean per timed sample of ``number`` runs.

    With ``number=None``, the warm-up runs (at least 3) are timed and ``number`` is
    chosen so that a sample lasts ``SAMPLE_SECONDS``.
    """
    warm = []
    for _ in range(warmup if number is not None else max(warmup, 3)):
        start = time.perf_counter()
        interpreter.invoke()
        warm.append(time.perf_counter() - start)
    if number is None:
        number = runs_per_sample(min(warm[1:] or warm))  # the first run prepares the delegate
    means = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            interpreter.invoke()
        means.append((time.perf_counter() - start) * 1e3 / number)
    return means, number


def deployment_cost(
    model: keras.Model,
    *,
    batch_size: int = 1,
    threads: int = 1,
    quantize: str | None = None,
    representative_data: ArrayLike | Sequence[ArrayLike] | None = None,
    warmup: int = 5,
    repeats: int = 50,
    number: int | None = None,
    io_dtype: str = "float32",
    strip_strings: bool = False,
) -> DeploymentCost:
    """Convert ``model`` to LiteRT and measure its file size and latency.

    The model is converted as ``regsearch.export`` converts it, with the batch
    fixed to ``batch_size``, and run in the LiteRT interpreter (``ai_edge_litert``
    when installed, else TensorFlow's copy) with its default CPU delegate, XNNPack,
    on ``threads`` threads: ``warmup`` untimed runs, then ``repeats`` timed
    samples of ``number`` back-to-back runs each. The latency is the fastest
    sample's mean time per run, as Python's ``timeit`` recommends: other
    processes sharing the cores only ever add time, so the fastest sample is the
    one they disturbed least, and averaging ``number`` runs per sample removes the
    timer's own overhead from microsecond runs (the interpreter's fixed cost per
    ``invoke()``, a few microseconds from Python, stays: it is part of every run).
    It is still a wall-clock time on this machine: compare models measured in the
    same session.

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
        repeats: Timed samples; the fastest is reported.
        number: Runs per sample; ``None`` chooses it from the warm-up runs so
            that a sample lasts about a millisecond (1 for a model that takes
            that long, hundreds for one of a few microseconds).
        io_dtype: As in ``regsearch.export`` (``"int8"`` only with
            ``quantize="int8"``; the runs are fed quantized inputs).
        strip_strings: As in ``regsearch.export``: measure the file without
            tensor names and signatures.

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
    if number is not None:
        number = check_int("number", number, minimum=1)
    quantize = check_quantize(quantize)
    io_dtype = check_io_dtype(io_dtype, quantize)
    strip_strings = check_bool("strip_strings", strip_strings)
    runtime = find_runtime()  # before converting: a missing runtime fails at once
    content = litert_bytes(
        model,
        quantize=quantize,
        representative_data=representative_data,
        batch_size=batch_size,
        io_dtype=io_dtype,
        strip=strip_strings,
    )
    interpreter = load(content, runtime=runtime, threads=threads, batch_size=batch_size)
    feed(interpreter, _inputs(model, batch_size, representative_data))
    times, number = _timed_runs(interpreter, warmup=warmup, repeats=repeats, number=number)
    low, _, high = (
        statistics.quantiles(times, n=4, method="inclusive") if repeats > 1 else (times[0],) * 3
    )
    return DeploymentCost(
        file_bytes=len(content),
        latency_ms=min(times),
        latency_quartiles_ms=(low, high),
        batch_size=batch_size,
        threads=threads,
        quantize=quantize,
        runtime=runtime.name,
        repeats=repeats,
        number=number,
    )
