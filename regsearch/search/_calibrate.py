"""Strengths relative to the data loss: one range that means the same on any model.

A penalty's absolute strength means different things on different models: the same
``StructuredSparsity(3e-4)`` is a fraction of the data loss of a small model trained
from scratch and a hundred times the loss of a trained ResNet. With relative
strengths, a strength ``x`` is rescaled before a trial trains so that each layer's
penalty equals ``x`` times the model's data loss at that moment, measured on the
first training samples.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import keras
import numpy as np

from regsearch.layers import CrossLayer
from regsearch.regularizers import Growing, Regularizer
from regsearch.search._data_loss import same_rank
from regsearch.search._gradients import gradient_norms
from regsearch.search._switch import inner_penalty, unswitched

SAMPLES = 512  # training samples the data loss is measured on


def readable_twice(x: Any, y: Any) -> bool:
    """Whether ``fit``'s ``x``/``y`` can be read ahead without consuming them: arrays, a
    ``tf.data.Dataset``, a ``keras.utils.PyDataset`` (not a generator or an iterator)."""
    return (
        y is not None
        or hasattr(x, "shape")
        or hasattr(x, "element_spec")  # a tf.data.Dataset
        or isinstance(x, keras.utils.PyDataset)
    )


def first_samples(x: Any, y: Any, count: int = SAMPLES) -> tuple[Any, Any]:
    """The first ``count`` samples of ``fit``'s ``x``/``y`` (arrays, a dataset, a PyDataset).

    Raises:
        TypeError: for a generator or another one-shot iterator: reading its first
            batch here would take it from training.
    """
    if not readable_twice(x, y):
        raise TypeError(
            f"Cannot read the first samples of x={type(x).__name__!r} without consuming "
            "them: pass arrays, a tf.data.Dataset or a keras.utils.PyDataset instead of "
            "a generator or an iterator."
        )
    if y is not None or hasattr(x, "shape"):
        return keras.tree.map_structure(lambda a: a[:count], (x, y))
    batch = x[0] if isinstance(x, keras.utils.PyDataset) else next(iter(x))
    return batch[0], batch[1]


def _loss_fn(loss: Any) -> Callable[..., Any]:
    return keras.losses.get(loss) if isinstance(loss, (str, dict)) else loss


def _by_output(model: keras.Model, value: Any) -> list[Any]:
    """``value`` (one for every output, a list, or a dict by output name) per output."""
    if isinstance(value, Mapping):
        return [value.get(name) for name in model.output_names]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value] * len(model.outputs)


def loss_function(model: keras.Model, loss: Any, loss_weights: Any = None) -> Callable[..., Any]:
    """``(y, predictions) -> the mean data loss`` for ``model``'s compiled ``loss``.

    ``loss`` and ``loss_weights`` as ``compile`` takes them: for a model of several
    outputs, one loss for all of them, a list, or a dict by output name. The result is
    the weighted sum of each output's mean loss, as Keras computes it (without the
    penalties); outputs without a loss count for nothing.
    """
    losses = _by_output(model, loss)
    weights = _by_output(model, loss_weights)

    def total(y: Any, predicted: Any) -> Any:
        truths, outputs = _by_output(model, y), _by_output(model, predicted)
        value: Any = 0.0
        for fn, weight, truth, out in zip(losses, weights, truths, outputs):
            if fn is None or truth is None:
                continue
            mean = keras.ops.mean(_loss_fn(fn)(*same_rank(keras.ops.cast(truth, out.dtype), out)))
            value = value + (1.0 if weight is None else weight) * mean
        return value

    return total


def data_loss(model: keras.Model, loss: Any, x: Any, y: Any, loss_weights: Any = None) -> float:
    """The data loss (``loss`` without penalties) of ``model``'s predictions for ``x``."""
    value = loss_function(model, loss, loss_weights)(y, model(x, training=False))
    return float(keras.ops.convert_to_numpy(value))


def _unwrapped(regularizer: Any) -> Regularizer | None:
    """The regsearch regularizer itself, or the one a ``Growing`` wraps; else ``None``."""
    inner = inner_penalty(regularizer)
    return inner if isinstance(inner, Regularizer) else None


def _full_cross_penalty(layer: CrossLayer) -> Any:
    """A ``CrossLayer``'s penalty at multiplier 1 when its regularizer is ``Growing``."""
    regularizer = unswitched(layer.regularizer)
    growing = regularizer if isinstance(regularizer, Growing) else None
    return layer.penalty() if growing is None else layer.penalty() / growing.current()


def _penalized(
    model: keras.Model,
) -> Iterator[tuple[Regularizer, str, Callable[[], Any], list[keras.Variable]]]:
    """``(regularizer, name, its penalty, the variables it reads)`` of every penalty.

    A ``Growing`` penalty yields the regularizer it wraps, and its penalty at
    multiplier 1: its strength is calibrated at full strength, whatever the
    multiplier is now.
    """
    for variable in model.trainable_weights:
        inner = _unwrapped(getattr(variable, "regularizer", None))
        if inner is not None:
            penalty: Any = inner  # keras.regularizers.Regularizer types no __call__
            yield inner, variable.path, functools.partial(penalty, variable), [variable]
    for layer in model.layers:
        inner = _unwrapped(getattr(layer, "regularizer", None))
        if isinstance(layer, CrossLayer) and inner is not None:
            kernels = [bound.kernel for bound in layer.bound_layers]
            yield inner, layer.name, functools.partial(_full_cross_penalty, layer), kernels


def calibrate_strengths(model: keras.Model, reference: float) -> dict[str, float]:
    """Rescale every regsearch penalty of ``model`` to ``strength x reference``, in place.

    A penalty that is 0 at the current weights (e.g. a layer initialized to zeros)
    keeps its strength. A ``Growing`` penalty's wrapped regularizer is rescaled so
    that it equals ``strength x reference`` at multiplier 1 (its ceiling by default).

    Covers weight regularizers and ``CrossLayer`` penalties.

    Returns:
        ``{variable path or CrossLayer name: new strength}``.
    """
    scaled = {}
    for regularizer, name, penalty, _ in _penalized(model):
        value = float(keras.ops.convert_to_numpy(penalty()))
        if value > 0 and regularizer.strength > 0:
            regularizer.strength = regularizer.strength**2 * reference / value
            scaled[name] = regularizer.strength
    return scaled


def calibrate_gradient_strengths(
    model: keras.Model, loss: Any, x: Any, y: Any, loss_weights: Any = None
) -> dict[str, float]:
    """Rescale every regsearch penalty so its gradient is ``strength x`` the data's, in place.

    For each penalty, the norm of its gradient with respect to the weights it reads
    becomes its strength times the norm of the data loss's gradient (``loss`` over
    ``model``'s predictions for ``x``) with respect to the same weights. Unlike the
    loss value, this measures how hard the penalty pulls against what the data
    pulls, layer by layer, which is what decides whether a group empties. A penalty
    whose gradient is 0 keeps its strength.

    Returns:
        ``{variable path or CrossLayer name: new strength}``.
    """
    fn = loss_function(model, loss, loss_weights)
    target = keras.tree.map_structure(keras.ops.convert_to_tensor, y)

    def data() -> Any:
        return fn(target, model(x, training=False))

    penalties = list(_penalized(model))
    variables = list({id(v): v for _, _, _, read in penalties for v in read}.values())
    data_norms = dict(zip(map(id, variables), gradient_norms(data, variables)))
    scaled = {}
    for regularizer, name, penalty, read in penalties:
        own = float(np.sqrt(sum(n**2 for n in gradient_norms(penalty, read))))
        wanted = float(np.sqrt(sum(data_norms[id(v)] ** 2 for v in read)))
        if own > 0 and regularizer.strength > 0:
            regularizer.strength = regularizer.strength**2 * wanted / own
            scaled[name] = regularizer.strength
    return scaled
