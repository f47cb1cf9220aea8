"""A Keras model as a LiteRT (``.tflite``) flatbuffer: float, float16, dynamic or int8."""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from regsearch._validation import check_bool, check_choice, check_int, check_model

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

QUANTIZE = ("float16", "dynamic", "int8")
# The types a file's inputs and outputs can have: float32 always; int8 for an
# "int8" file whose caller quantizes its inputs and dequantizes its outputs itself.
IO_DTYPES = ("float32", "int8")
# Calibration samples int8 reads from `representative_data` (the converter's guide
# suggests a few hundred); more only slow the conversion down.
_CALIBRATION_SAMPLES = 200


def check_quantize(quantize: object) -> str | None:
    """``quantize`` if it is ``None`` or one of ``QUANTIZE``, else a ``ValueError``."""
    if quantize is None:
        return None
    return check_choice("quantize", quantize, QUANTIZE)


def check_io_dtype(io_dtype: object, quantize: str | None) -> str:
    """``io_dtype`` if it is one of ``IO_DTYPES`` and fits ``quantize``, else an error."""
    io_dtype = check_choice("io_dtype", io_dtype, IO_DTYPES)
    if io_dtype == "int8" and quantize != "int8":
        raise ValueError(
            f"Argument `io_dtype`: int8 inputs and outputs need a fully quantized file "
            f"(quantize='int8', with representative_data); received io_dtype='int8' with "
            f"quantize={quantize!r}. Pass quantize='int8', or keep io_dtype='float32'."
        )
    return io_dtype


def _flatbuffer_utils() -> Any:
    """LiteRT's flatbuffer tools (its public ``tools`` module; TensorFlow's copy as a fallback).

    TensorFlow is there whenever a file is converted, so the fallback always imports.
    """
    try:
        return importlib.import_module("ai_edge_litert.tools.flatbuffer_utils")
    except ImportError:
        return importlib.import_module("tensorflow.lite.tools.flatbuffer_utils")


def without_strings(content: bytes) -> bytes:
    """``content`` without tensor names, subgraph names and signatures.

    What LiteRT's ``flatbuffer_utils.strip_strings`` removes; the operators, weights
    and metadata are untouched, and the interpreter finds the inputs and outputs by
    index (``get_input_details``) as before.
    """
    tools = _flatbuffer_utils()
    model = tools.convert_bytearray_to_object(bytearray(content))
    tools.strip_strings(model)
    return bytes(tools.convert_object_to_bytearray(model))


def _check_backend() -> None:
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"regsearch exports LiteRT files with TensorFlow's LiteRT converter, which "
            f"reads TensorFlow graphs; the Keras backend is {backend!r}. Save the model "
            f"(model.save('model.keras')) and export it in a process started with "
            f"KERAS_BACKEND=tensorflow: the .keras file loads on any backend."
        )


def _input_specs(model: keras.Model, batch_size: int | None) -> list[keras.InputSpec]:
    if not getattr(model, "inputs", None):
        raise ValueError(
            f"Argument `model` must be a built Sequential or functional model (start it "
            f"with keras.Input); received the unbuilt or subclassed model {model.name!r}."
        )
    return [
        keras.InputSpec(shape=(batch_size, *tensor.shape[1:]), dtype=tensor.dtype)
        for tensor in model.inputs
    ]


def _calibration_arrays(model: keras.Model, data: object) -> list[np.ndarray]:
    """``representative_data`` as one float array per model input, checked against them."""
    arrays = list(data) if isinstance(data, (list, tuple)) else [data]
    if len(arrays) != len(model.inputs):
        raise ValueError(
            f"Argument `representative_data` must hold one array per model input "
            f"({len(model.inputs)}); received {len(arrays)}."
        )
    checked = []
    for array, tensor in zip(arrays, model.inputs):
        array = np.asarray(array, dtype=tensor.dtype)
        if array.ndim != len(tensor.shape) or any(
            want is not None and got != want for got, want in zip(array.shape[1:], tensor.shape[1:])
        ):
            raise ValueError(
                f"Argument `representative_data`: samples of shape {array.shape[1:]} do not "
                f"fit the model input {tuple(tensor.shape[1:])} (the first axis counts "
                f"samples)."
            )
        if len(array) == 0:
            raise ValueError("Argument `representative_data` holds no samples.")
        checked.append(array[:_CALIBRATION_SAMPLES])
    return checked


def _representative(arrays: list[np.ndarray]) -> Callable[[], Iterator[list[np.ndarray]]]:
    """The converter's ``representative_dataset``: one sample (batch of 1) at a time."""

    def samples() -> Iterator[list[np.ndarray]]:
        for i in range(min(len(a) for a in arrays)):
            yield [a[i : i + 1] for a in arrays]

    return samples


def _configure(
    converter: Any,
    quantize: str | None,
    calibration: list[np.ndarray] | None,
    io_dtype: str = "float32",
) -> None:
    # The converter is TensorFlow's: there is no LiteRT converter in Keras's own API
    # (Keras's `model.export(format="litert")` drives this same converter).
    import tensorflow as tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize is None:
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if calibration is not None:  # int8: weights and activations
        converter.representative_dataset = _representative(calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_dtype == "int8":  # no QUANTIZE / DEQUANTIZE operators at the ends
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8


def litert_bytes(
    model: keras.Model,
    *,
    quantize: str | None = None,
    representative_data: ArrayLike | Sequence[ArrayLike] | None = None,
    batch_size: int | None = None,
    io_dtype: str = "float32",
    strip: bool = False,
) -> bytes:
    """The LiteRT flatbuffer of ``model`` (the arguments are those of ``export``)."""
    model = check_model("model", model)
    quantize = check_quantize(quantize)
    io_dtype = check_io_dtype(io_dtype, quantize)
    strip = check_bool("strip_strings", strip)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, minimum=1)
    if quantize == "int8" and representative_data is None:
        raise ValueError(
            "quantize='int8' needs `representative_data`: a few hundred input samples "
            "(e.g. representative_data=x_train[:200]) from which the converter measures "
            "each tensor's range. quantize='dynamic' needs none."
        )
    calibration = None
    if quantize == "int8":
        calibration = _calibration_arrays(model, representative_data)
    specs = _input_specs(model, batch_size)
    _check_backend()
    import tensorflow as tf  # the LiteRT converter (see _configure)

    archive = keras.export.ExportArchive()
    archive.track(model)
    call = functools.partial(model.__call__, training=False)
    archive.add_endpoint("serve", call, input_signature=[specs if len(specs) > 1 else specs[0]])
    with tempfile.TemporaryDirectory() as saved_model, contextlib.redirect_stdout(io.StringIO()):
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        _configure(converter, quantize, calibration, io_dtype)
        content = bytes(converter.convert())
    return without_strings(content) if strip else content


def export(
    model: keras.Model,
    path: str | Path,
    *,
    quantize: str | None = None,
    representative_data: ArrayLike | Sequence[ArrayLike] | None = None,
    batch_size: int | None = None,
    io_dtype: str = "float32",
    strip_strings: bool = False,
) -> Path:
    """Write ``model`` as a LiteRT (``.tflite``) file, trimmed or not.

    The file holds the inference graph (``training=False``: dropout off, batch
    normalization folded) and runs on any LiteRT runtime: only LiteRT's builtin
    operators are used, no TensorFlow (Flex) ones. By default inputs and outputs
    stay float32 for every ``quantize`` (an int8 file quantizes its inputs and
    dequantizes its outputs itself), so the file is fed what the model is fed;
    ``io_dtype="int8"`` leaves that to the caller. ``model`` is not changed.

    For the smallest file: ``quantize="int8"``, a fixed ``batch_size`` (a
    ``Flatten`` then needs no run-time shape operators), ``io_dtype="int8"`` and
    ``strip_strings=True``. What stays beyond the weights -- the description of
    each operator and tensor, the quantization scales, the metadata LiteRT reads
    (``min_runtime_version``) -- does not shrink with quantization; the sizes
    measured for small models are in ``benchmarks/README.md``.

    The conversion is TensorFlow's LiteRT converter reading the model's
    inference function (through ``keras.export.ExportArchive``, as Keras's own
    ``model.export(format="litert")`` does), so it needs the TensorFlow backend.

    Args:
        model: A built Sequential or functional Keras model.
        path: The file to write; it must end with ``.tflite``.
        quantize: ``None`` (float32), ``"float16"`` (float16 weights, about half
            the file), ``"dynamic"`` (int8 weights, float activations, about a
            quarter) or ``"int8"`` (int8 weights and activations: the smallest
            and, on most CPUs, the fastest; needs ``representative_data``).
        representative_data: Input samples (first axis: samples; a list with one
            array per input for a multi-input model) from which ``"int8"``
            measures the range of every tensor; up to the first 200 are read.
            Use samples of the data the model will see, e.g. ``x_train[:200]``.
        batch_size: A fixed batch size for the file's inputs; ``None`` keeps the
            batch axis free (the runtime can resize it).
        io_dtype: ``"float32"`` (default) or ``"int8"`` (only with
            ``quantize="int8"``): the type of the file's inputs and outputs. With
            ``"int8"`` the caller quantizes inputs and dequantizes outputs with the
            scale and zero point of each (the interpreter's ``get_input_details()``
            ``["quantization"]``), as ``regsearch.deploy.predict`` does; the file
            has no QUANTIZE and DEQUANTIZE operators, which an integer-only
            microcontroller pipeline wants.
        strip_strings: Remove the tensor names, subgraph names and signatures
            (LiteRT's ``flatbuffer_utils.strip_strings``). Runtimes still find
            inputs and outputs by index (``get_input_details()``), but the file
            has no signature for ``get_signature_runner``.

    Returns:
        ``path``, as a ``pathlib.Path``.

    Raises:
        ValueError: for an unknown ``quantize`` or ``io_dtype``, ``"int8"``
            without ``representative_data``, ``io_dtype="int8"`` without
            ``quantize="int8"``, or a path not ending with ``.tflite``.
        TypeError: for a ``strip_strings`` that is not a bool.
        RuntimeError: on a Keras backend other than TensorFlow.

    Examples:
        >>> import keras, regsearch, tempfile, pathlib
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
        >>> path = regsearch.export(model, pathlib.Path(tempfile.mkdtemp()) / "model.tflite")
        >>> path.stat().st_size > 0
        True
    """
    path = Path(path)
    if path.suffix != ".tflite":
        raise ValueError(
            f"Argument `path` must end with '.tflite'; received {str(path)!r}. "
            f"Try {str(path.with_suffix('.tflite'))!r}."
        )
    content = litert_bytes(
        model,
        quantize=quantize,
        representative_data=representative_data,
        batch_size=batch_size,
        io_dtype=io_dtype,
        strip=strip_strings,
    )
    path.write_bytes(content)
    return path
