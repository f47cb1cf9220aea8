"""``trim``, ``trimmed_size`` and ``snap_to_zero``: the package's entry points (see its
docstring for what counts as zero and what is removed)."""

from __future__ import annotations

import keras
import numpy as np

from regsearch.trimming._analysis import analyze, check_threshold, snap_layers, snapped_variables
from regsearch.trimming._graph import model_graph
from regsearch.trimming._records import TrimmedSize
from regsearch.trimming._report import TrimReport
from regsearch.trimming._surgery import build


def trimmed_size(
    model: keras.Model,
    threshold: float = 1e-3,
    *,
    relative: bool = False,
    round_to: int | None = None,
) -> TrimmedSize:
    """Size of ``model`` after trimming, computed from its weights alone.

    Runs the analysis of ``trim`` without building a model, so it is cheap enough
    to call at every epoch end. ``result.params`` always equals
    ``trim(model, threshold, relative=relative, round_to=round_to)[0].count_params()``.

    Args:
        model: a built Sequential or functional Keras model. It is not changed.
        threshold: a weight counts as zero when ``|w| <= threshold``; must be >= 0.
        relative: if True, a weight counts as zero when ``|w| <= threshold x`` the
            largest ``|w|`` of its layer's kernel (of each kernel of a ``SeparableConv``,
            or of a BatchNormalization's gamma).
        round_to: as in ``trim``: channel counts rounded up to a multiple of it.

    Returns:
        A ``TrimmedSize`` with ``params``, ``macs`` (after trimming),
        ``params_before``, ``macs_before`` and one ``LayerTrim`` per layer.

    Raises:
        ValueError: for a negative threshold, an unbuilt model, or when trimming would
            remove every output channel of a layer (use a lower threshold).

    Examples:

    >>> import keras, numpy as np, regsearch
    >>> model = keras.Sequential([keras.Input((16, 1)), keras.layers.Conv1D(4, 5)])
    >>> kernel, bias = model.layers[0].get_weights()
    >>> kernel[[0, -1]] = 0.0  # zero first and last tap
    >>> model.layers[0].set_weights([kernel, bias])
    >>> size = regsearch.trimmed_size(model)
    >>> size.layers[0].kernel_after, size.params_before, size.params
    ((3,), 24, 16)
    """
    return analyze(model, threshold, relative=relative, round_to=round_to)


def snap_to_zero(model: keras.Model, threshold: float = 1e-3, *, relative: bool = False) -> int:
    """Set every kernel weight that counts as zero to exactly 0.0, in place.

    Acts on the kernels trim reads (``Conv``, ``DepthwiseConv``, both kernels of
    ``SeparableConv``, ``Dense``) and on the ``gamma`` of ``BatchNormalization``
    layers over the last axis (not on shared layers). Afterwards ``model`` computes
    what ``trim(model, threshold, relative=relative)[0]`` computes, up to float32
    rounding, so a validation loss measured on it is that of the trimmed model.
    Unlike ``trim``, this **changes** ``model``.

    Args:
        model: a built Sequential or functional Keras model.
        threshold: a weight counts as zero when ``|w| <= threshold``; must be >= 0.
        relative: if True, the threshold is relative to the largest ``|w|`` of each
            layer's kernel (or BatchNormalization gamma).

    Returns:
        How many weights were changed (nonzero before, zero after).

    Examples:

    >>> import keras, numpy as np, regsearch
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> model.layers[0].set_weights([np.full((3, 2), 1e-4), np.zeros(2)])
    >>> from regsearch.trimming import snap_to_zero
    >>> snap_to_zero(model)
    6
    """
    threshold = check_threshold(threshold, relative)
    graph = model_graph(model)
    layers = {id(node.layer): node.layer for node in graph.nodes}
    changed = 0
    for key, snapped in snap_layers(graph, threshold, relative).items():
        # The kernels (depthwise and pointwise for SeparableConv), or a BN's gamma.
        for variable, weight in zip(snapped_variables(layers[key]), snapped, strict=True):
            count = int(np.count_nonzero(keras.ops.convert_to_numpy(variable)))
            count -= int(np.count_nonzero(weight))
            if count:
                variable.assign(weight)
                changed += count
    return changed


def trim(
    model: keras.Model,
    threshold: float = 1e-3,
    *,
    relative: bool = False,
    sample: object = None,
    round_to: int | None = None,
) -> tuple[keras.Model, TrimReport]:
    """Build a smaller model that computes what ``model`` computes.

    Weights that count as zero are treated as exactly 0; beyond that, the trimmed
    model's outputs equal the original's up to float32 rounding. See the package
    docstring for what is trimmed. The trimmed model is built from stock Keras layers
    (regularizers and constraints are dropped), so it saves to ``.keras`` and loads
    with plain Keras -- unless it keeps a custom layer that trim does not understand.

    Args:
        model: a built Sequential or functional Keras model. It is not changed.
        threshold: a weight counts as zero when ``|w| <= threshold``; must be >= 0.
        relative: if True, the threshold is relative to the largest ``|w|`` of each
            layer's kernel (or BatchNormalization gamma).
        sample: optional model input; if given, ``report.max_abs_error`` is the
            largest absolute difference between the two models' outputs on it.
        round_to: if given, every ``Conv``/``SeparableConv``/``Dense`` layer that
            loses output channels keeps a multiple of ``round_to`` of them (at most
            all it had), as some runtimes prefer (e.g. 4 or 8 for XNNPack on CPUs):
            the channels closest to being kept (largest kernel norm over the coupled
            group) stay, with their weights, so the outputs are unchanged; a
            coupled group (a residual stream) is rounded as one. ``None`` or 1:
            no rounding.

    Returns:
        ``(trimmed_model, report)``: a Sequential model for a Sequential input, a
        functional one otherwise; and a ``TrimReport``.

    Raises:
        ValueError: for a negative threshold, an unbuilt model, a ``round_to`` below
            1, or when trimming would remove every output channel of a layer (use a
            lower threshold).
        TypeError: for a ``round_to`` that is not an integer.

    Examples:

    >>> import keras, numpy as np, regsearch
    >>> model = keras.Sequential([keras.Input((16, 1)), keras.layers.Conv1D(4, 5)])
    >>> kernel = np.full((5, 1, 4), 0.5, "float32")
    >>> kernel[[0, -1]] = 0.0  # the first and last taps are zero
    >>> model.layers[0].set_weights([kernel, np.zeros(4, "float32")])
    >>> small, report = regsearch.trim(model, sample=np.ones((2, 16, 1)))
    >>> small.count_params(), report.max_abs_error < 1e-5
    (16, True)

    Channel counts rounded to a multiple of 4: 3 live filters of 8 keep 4.

    >>> model = keras.Sequential(
    ...     [keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2)])
    >>> kernel = np.zeros((4, 8), "float32")
    >>> kernel[:, :3] = 1.0
    >>> model.layers[0].set_weights([kernel, np.zeros(8, "float32")])
    >>> regsearch.trim(model)[0].layers[0].units
    3
    >>> regsearch.trim(model, round_to=4)[0].layers[0].units
    4
    """
    size = analyze(model, threshold, relative=relative, round_to=round_to)
    trimmed = build(size)
    error = None if sample is None else _max_abs_error(model, trimmed, sample)
    report = TrimReport(
        layers=size.layers,
        params_before=size.params_before,
        params_after=size.params,
        macs_before=size.macs_before,
        macs_after=size.macs,
        max_abs_error=error,
        threshold=size.threshold,
        relative=size.relative,
        round_to=size.round_to,
    )
    return trimmed, report


def _max_abs_error(model: keras.Model, trimmed: keras.Model, sample: object) -> float:
    """The largest absolute difference between the two models' outputs on ``sample``."""
    expected = keras.tree.flatten(model(sample, training=False))
    got = keras.tree.flatten(trimmed(sample, training=False))
    return max(
        float(np.max(np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b))))
        for a, b in zip(expected, got, strict=True)
    )
