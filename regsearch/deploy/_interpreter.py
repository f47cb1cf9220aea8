"""The LiteRT runtime that runs a ``.tflite`` file: ``ai_edge_litert``, else TensorFlow's."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Where a LiteRT interpreter class lives, in order of preference: the LiteRT package
# (`pip install "regsearch[litert]"`), then the copy TensorFlow still ships
# (deprecated there, and scheduled for removal).
RUNTIMES = (("ai_edge_litert.interpreter", "Interpreter"), ("tensorflow", "lite.Interpreter"))


@dataclass(frozen=True)
class Runtime:
    """A LiteRT interpreter class and where it came from (``"ai_edge_litert 2.3.0"``)."""

    interpreter: type
    name: str


def find_runtime(candidates: Sequence[tuple[str, str]] = RUNTIMES) -> Runtime:
    """The first LiteRT interpreter class of ``candidates`` that imports.

    Args:
        candidates: ``(module, attribute path)`` pairs, in order of preference.

    Raises:
        ModuleNotFoundError: when none does; the message says what to install.
    """
    for module_name, attribute in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        interpreter: Any = module
        for name in attribute.split("."):
            interpreter = getattr(interpreter, name, None)
        if isinstance(interpreter, type):
            package = module_name.split(".")[0]
            version = getattr(importlib.import_module(package), "__version__", "")
            return Runtime(interpreter, f"{package} {version}".strip())
    raise ModuleNotFoundError(
        "No LiteRT runtime is installed to run the .tflite file (looked for "
        f"{', '.join(f'{m}.{a}' for m, a in candidates)}). Install one with "
        'pip install "regsearch[litert]" (the ai-edge-litert package).'
    )


def load(content: bytes, *, runtime: Runtime, threads: int, batch_size: int) -> Any:
    """An interpreter for ``content`` with every input batch set to ``batch_size``, allocated.

    The default op resolver applies the runtime's default CPU delegate (XNNPack) to
    the operators it supports.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")
        interpreter = runtime.interpreter(model_content=content, num_threads=threads)
    for detail in interpreter.get_input_details():
        shape = [batch_size, *detail["shape_signature"][1:]]
        interpreter.resize_tensor_input(detail["index"], shape)
    interpreter.allocate_tensors()
    return interpreter


def _quantized(detail: dict[str, Any]) -> tuple[float, int] | None:
    """``(scale, zero_point)`` of an integer tensor quantized per tensor, else ``None``."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    if not np.issubdtype(detail["dtype"], np.integer) or not scale:
        return None
    return float(scale), int(zero_point)


def feed(interpreter: Any, inputs: Sequence[np.ndarray]) -> None:
    """Set the interpreter's inputs to ``inputs``, given in the model's input order.

    Float data for a quantized integer input (a file exported with
    ``io_dtype="int8"``) is quantized with the input's scale and zero point.
    """
    details = sorted(interpreter.get_input_details(), key=lambda d: d["index"])
    for detail, value in zip(details, inputs):
        value = np.asarray(value)
        quantization = _quantized(detail)
        if quantization is not None and np.issubdtype(value.dtype, np.floating):
            scale, zero_point = quantization
            info = np.iinfo(detail["dtype"])
            value = np.clip(np.round(value / scale) + zero_point, info.min, info.max)
        interpreter.set_tensor(detail["index"], np.asarray(value, dtype=detail["dtype"]))


def output(interpreter: Any, index: int = 0) -> np.ndarray:
    """Output ``index`` of the last run, dequantized to float32 if it is quantized."""
    detail = interpreter.get_output_details()[index]
    value = interpreter.get_tensor(detail["index"])
    quantization = _quantized(detail)
    if quantization is None:
        return value
    scale, zero_point = quantization
    return ((value.astype("float32") - zero_point) * scale).astype("float32")
