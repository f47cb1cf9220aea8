"""``regsearch.shrink``: a smaller model, as accurate as the one given, in one call."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import keras_tuner

from regsearch._validation import check_bool, check_float, check_int, check_model
from regsearch.oracles import ParetoSearch
from regsearch.search import (
    Objective,
    RegSearchHyperModel,
    SearchSpace,
    TrialProgress,
    best_model,
    results,
    select,
)
from regsearch.trimming import channel_groups, trimmed_size

WIDTHS = (1.0, 0.75, 0.5, 0.25, 0.125)


def _check_model(model: Any) -> None:
    check_model("model", model)
    try:
        groups = channel_groups(model)
    except ValueError as error:
        raise ValueError(
            f"regsearch.shrink cannot shrink model {model.name!r}: it needs a built "
            "Sequential or functional model (a subclassed model has no graph to edit). "
            f"{error}"
        ) from error
    if all(group.blocked for group in groups) and not _kernel_sizes(model):
        raise ValueError(
            f"regsearch.shrink cannot shrink model {model.name!r}: it has no Conv, "
            "SeparableConv or Dense layer whose channels or kernel can be cut (every "
            "such layer produces a model output or feeds a layer that fixes its width)."
        )


def _kernel_sizes(model: keras.Model) -> list[int]:
    """Odd kernel-size caps from 3 to the model's largest kernel (none for 3x3 models)."""
    largest = max(
        (max(layer.kernel_size) for layer in model.layers if hasattr(layer, "kernel_size")),
        default=1,
    )
    return [] if largest <= 3 else sorted({*range(3, largest, 2), largest})


def _uniform_widths(
    space: SearchSpace, model: keras.Model, max_trials: int
) -> list[dict[str, float]]:
    """Warm-start trials: every group at one width, from the widest cut to the narrowest
    but one (what a pruning user tries first); with the first trial, a third of them."""
    ladder = sorted((w for w in space.width or () if w < 1.0), reverse=True)[:-1]
    trials = [space.uniform_width(model, w) for w in ladder[: (max_trials + 2) // 3 - 1]]
    return [values for values in trials if values]


def _compile_kwargs(model: keras.Model, compile: Mapping[str, Any] | None) -> dict[str, Any]:
    if compile is not None:
        return dict(compile)
    config = model.get_compile_config() if model.compiled else None
    if not config:
        raise ValueError(
            "Argument `model` is not compiled and no `compile` was given: compile the model "
            "as you trained it, or pass compile={'optimizer': ..., 'loss': ..., "
            "'metrics': [...]}."
        )
    config = keras.saving.deserialize_keras_object(config)
    keys = ("optimizer", "loss", "metrics", "loss_weights", "weighted_metrics")
    return {key: config[key] for key in keys if config.get(key) is not None}


def _copy(model: keras.Model, compile: dict[str, Any]) -> keras.Model:
    """A compiled copy of ``model`` with its weights and a new optimizer."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    optimizer = compile.get("optimizer", "rmsprop")
    if isinstance(optimizer, keras.optimizers.Optimizer):
        optimizer = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    copy.compile(**{**compile, "optimizer": optimizer})
    return copy


def _scaled_optimizer(compile: dict[str, Any], factor: float) -> dict[str, Any]:
    """``compile`` with a new optimizer at ``factor`` x its learning rate (a float rate)."""
    optimizer = keras.optimizers.get(compile.get("optimizer", "rmsprop"))
    config = keras.optimizers.serialize(optimizer)
    rate = config["config"].get("learning_rate")
    if isinstance(rate, (int, float)):
        config["config"]["learning_rate"] = float(rate) * factor
    return {**compile, "optimizer": keras.optimizers.deserialize(config)}


def _evaluate(
    model: keras.Model, compile: dict[str, Any], validation_data: Any, batch_size: int | None
) -> dict[str, float]:
    """The given model's own validation metrics, on a copy (the user's is never touched)."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise TypeError(
            "Argument `validation_data` must be a tuple (x_val, y_val); received "
            f"{type(validation_data).__name__}."
        )
    copy = _copy(model, compile)
    x_val, y_val = validation_data[0], validation_data[1]
    logs = copy.evaluate(x_val, y_val, batch_size=batch_size, verbose=0, return_dict=True)
    return {f"val_{name}": float(value) for name, value in logs.items()}


def _pick_metric(metric: str | None, base: dict[str, float]) -> str:
    if metric is None:
        others = [name for name in base if name != "val_loss"]
        return others[0] if others else "val_loss"
    if metric not in base:
        raise ValueError(
            f"Argument `metric`: the model logs no {metric!r} on the validation data; it "
            f"logs {sorted(base)}. Pass one of them, or compile the model with the metric."
        )
    return metric


def shrink(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    validation_data: tuple[Any, Any],
    tolerance: float = 0.01,
    relative: bool = False,
    metric: str | None = None,
    max_trials: int = 12,
    epochs: int = 3,
    finetune_epochs: int = 3,
    width: Sequence[float] = WIDTHS,
    learning_rate: float = 0.3,
    strength: tuple[float, float] = (0.03, 3.0),
    compile: Mapping[str, Any] | None = None,
    batch_size: int | None = 32,
    directory: str | None = None,
    seed: int = 0,
    verbose: int = 1,
) -> tuple[keras.Model, keras_tuner.Tuner]:
    """The smallest trimmed model whose validation metric is within ``tolerance`` of yours.

    Derives the search space from ``model`` (``SearchSpace.for_size`` over every
    layer with a kernel: a ``StructuredSparsity`` strength per layer, a width per
    coupled channel group from ``width``, and for kernels longer than 3, caps from 3
    up to the model's own largest kernel), then runs a ``ParetoSearch`` in which every
    trial starts from ``model``'s weights (``initial_weights="model"``: narrowed layers keep their
    largest channels), trains ``epochs`` with the penalties and ``finetune_epochs``
    without, and is scored by its validation metric and trimmed MACs. The first trial
    is the model as given, with no width cut and the weakest penalty; the next ones
    cut every group to one width (e.g. 3/4, 1/2, then 1/4), as a pruning user would. Among the
    finished trials, the smallest whose metric is within ``tolerance`` of ``model``'s
    own (measured on ``validation_data`` first) is trimmed and returned. When none
    is, ``model`` itself comes back (a copy) and a line says so.

    Args:
        model: A trained, built Sequential or functional model. It is not changed.
        x: Training inputs (arrays), as for ``model.fit``.
        y: Training targets.
        validation_data: ``(x_val, y_val)``: what "as accurate" is measured on.
        tolerance: How much worse than ``model``'s the metric may be (absolute, in
            the metric's units: 0.01 is one accuracy point).
        relative: Read ``tolerance`` as a fraction of ``model``'s metric.
        metric: The validation metric, e.g. ``"val_accuracy"``; by default the
            model's first compiled metric, else ``"val_loss"``.
        max_trials: Trials of the search.
        epochs: Penalized epochs per trial.
        finetune_epochs: Epochs per trial without the penalties.
        width: Width factors searched per coupled channel group.
        learning_rate: Trials train at this multiple of the optimizer's learning rate
            (a fine-tune of a trained model wants a smaller step than its training).
        strength: (min, max) of the ``StructuredSparsity`` strength per layer,
            relative to the data loss (``SearchSpace(relative_strength=True)``):
            at 1, a layer's penalty equals the model's data loss when its trial starts.
        compile: ``model.compile`` arguments; by default the model's own.
        batch_size: Batch size for training and evaluation.
        directory: The tuner's directory; a new temporary one by default.
        seed: Seed of the sampler and of Keras.
        verbose: ``1``: print one line per trial and the result; ``0``: silent
            (``model.fit``'s convention; ``True``/``False`` work too).

    Returns:
        ``(small_model, tuner)``: the trimmed model (stock Keras layers, compiled),
        and the tuner, for ``regsearch.results(tuner)`` and the Pareto front.

    Raises:
        TypeError, ValueError: for a subclassed or unbuilt model, a model with nothing
            to shrink, an uncompiled model without ``compile``, or bad arguments.

    Examples:
        >>> small, tuner = regsearch.shrink(  # doctest: +SKIP
        ...     model, x, y, validation_data=(x_val, y_val), tolerance=0.01)
    """
    _check_model(model)
    tolerance = check_float("tolerance", tolerance)
    relative = check_bool("relative", relative)
    verbose = bool(
        check_int("verbose", int(verbose) if isinstance(verbose, bool) else verbose, minimum=0)
    )
    check_int("epochs", epochs, minimum=1)
    max_trials = check_int("max_trials", max_trials, minimum=1)
    learning_rate = check_float("learning_rate", learning_rate, exclusive_minimum=True)
    kwargs = _compile_kwargs(model, compile)
    space = SearchSpace.for_size(
        strength=strength,
        width=list(width),
        kernel_size=_kernel_sizes(model) or None,
        relative_strength=True,
    )
    hypermodel = RegSearchHyperModel(
        model,
        space,
        compile=_scaled_optimizer(kwargs, learning_rate),
        initial_weights="model",
        finetune_epochs=finetune_epochs,
    )
    base = _evaluate(model, kwargs, validation_data, batch_size)
    metric = _pick_metric(metric, base)
    keras.utils.set_random_seed(check_int("seed", seed, minimum=0))
    tuner = ParetoSearch(
        hypermodel,
        objective=Objective(metric, size="macs", tradeoff="product", size_weight=0.1),
        max_trials=max_trials,
        seed=seed,
        start_from_defaults=True,
        initial_trials=_uniform_widths(space, model, max_trials),
        directory=directory or tempfile.mkdtemp(prefix="regsearch-shrink-"),
        project_name="shrink",
        overwrite=True,
    )
    callbacks = [TrialProgress(metric, total=max_trials)] if verbose else []
    tuner.search(
        x,
        y,
        validation_data=validation_data,
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
        callbacks=callbacks,
    )
    return _choose(model, tuner, kwargs, base[metric], tolerance, relative, verbose), tuner


def _choose(
    model: keras.Model,
    tuner: keras_tuner.Tuner,
    compile: dict[str, Any],
    reference: float,
    tolerance: float,
    relative: bool,
    verbose: bool,
) -> keras.Model:
    """The smallest trial within ``tolerance`` of ``reference``, trimmed; else ``model``."""
    metric = tuner.oracle.objective.metric
    try:
        trial_id = select(
            tuner, tolerance, metric=metric, size="macs", relative=relative, reference=reference
        )
    except LookupError as error:
        if verbose:
            print(f"regsearch.shrink: {error} Returning the model as given.", flush=True)
        return _copy(model, compile)
    if verbose:
        row = results(tuner).set_index("trial_id").loc[trial_id]
        before = trimmed_size(model, 0.0).macs_before
        after = int(row["trimmed_macs"])
        print(
            f"regsearch.shrink: trial {trial_id}: {metric} {row[metric]:.4f} (yours "
            f"{reference:.4f}), MACs {after:,} (yours {before:,}: {before / max(after, 1):.1f}x "
            "fewer)",
            flush=True,
        )
    return best_model(tuner, trial_id=trial_id)
