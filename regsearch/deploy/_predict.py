"""Run a LiteRT file on data: what the deployed model predicts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from regsearch._validation import check_int
from regsearch.deploy._interpreter import feed, find_runtime, load, output

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def predict(
    path: str | Path,
    x: ArrayLike | Sequence[ArrayLike],
    *,
    batch_size: int = 32,
    threads: int = 1,
) -> np.ndarray:
    """The outputs of a ``.tflite`` file on ``x``, run in the LiteRT interpreter.

    Compare them with ``model.predict(x)`` to check an export, or score them to
    measure what quantization costs (for example an ``"int8"`` file's accuracy).
    Runs on any backend: no conversion happens here.

    Args:
        path: A file ``regsearch.export`` wrote (any LiteRT file with one output).
        x: Input samples (first axis: samples), or a list with one array per input.
        batch_size: Samples per ``invoke()`` (a file exported with a fixed batch
            size must be run at that size).
        threads: Interpreter threads.

    Returns:
        The file's output for every sample, stacked along the first axis. A file
        with int8 inputs and outputs (``export(..., io_dtype="int8")``) is fed
        ``x`` quantized and its outputs come back dequantized, as float32.

    Examples:
        >>> import keras, numpy as np, regsearch, tempfile, pathlib
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
        >>> path = regsearch.export(model, pathlib.Path(tempfile.mkdtemp()) / "model.tflite")
        >>> x = np.ones((5, 8), "float32")
        >>> bool(np.allclose(regsearch.deploy.predict(path, x), model.predict(x, verbose=0),
        ...                  atol=1e-5))
        True
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    threads = check_int("threads", threads, minimum=1)
    arrays = [np.asarray(a) for a in (x if isinstance(x, (list, tuple)) else [x])]
    content = Path(path).read_bytes()
    runtime = find_runtime()
    outputs, interpreters = [], {}
    for start in range(0, len(arrays[0]), batch_size):
        batch = [a[start : start + batch_size] for a in arrays]
        size = len(batch[0])
        if size not in interpreters:
            interpreters[size] = load(content, runtime=runtime, threads=threads, batch_size=size)
        interpreter = interpreters[size]
        feed(interpreter, batch)
        interpreter.invoke()
        outputs.append(output(interpreter))
    return np.concatenate(outputs)
