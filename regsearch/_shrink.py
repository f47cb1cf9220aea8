"""``regsearch.shrink``: a smaller model, as accurate as the one given, in one call."""

from __future__ import annotations

import dataclasses
import math
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import keras_tuner

from regsearch._distillation import soft_targets, unsupported
from regsearch._validation import (
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_model,
    did_you_mean,
)
from regsearch.editing import inline_models, nested_models
from regsearch.oracles import ParetoSearch
from regsearch.search import (
    Objective,
    RegSearchHyperModel,
    SearchSpace,
    TrialProgress,
    best_model,
    build_training_state,
    infer_direction,
    metric_column,
    pareto_front,
    readable_twice,
    results,
    select,
    within_tolerance,
)
from regsearch.trimming import channel_groups, trimmed_size

WIDTHS = (1.0, 0.75, 0.5, 0.25, 0.125)


def _inlined(model: Any, verbose: object) -> Any:
    """``model`` with its nested models inlined (uncompiled), or ``model`` as it is.

    ``model`` itself comes back when it nests no model, or has no graph to inline
    into (a subclassed model, which ``_check_model`` then refuses).
    """
    flat = inline_models(model) if isinstance(model, keras.Model) else model
    if flat is not model and verbose:
        names = ", ".join(repr(m.name) for m in nested_models(model))
        print(f"regsearch.shrink: the layers of {names} are searched as the model's own")
    return flat


def _check_model(model: Any, kernel_size: Sequence[int] | None) -> list[int]:
    """Check that ``model`` can be shrunk; return the kernel-size caps to search."""
    check_model("model", model)
    try:
        groups = channel_groups(model)
    except ValueError as error:
        raise ValueError(
            f"regsearch.shrink cannot shrink model {model.name!r}: it needs a built "
            "Sequential or functional model (a subclassed model has no graph to edit). "
            f"{error}"
        ) from error
    caps = _kernel_sizes(model) if kernel_size is None else _check_caps(kernel_size)
    if all(group.blocked for group in groups) and not _cuts_a_kernel(model, caps):
        raise ValueError(
            f"regsearch.shrink cannot shrink model {model.name!r}: it has no Conv, "
            "SeparableConv or Dense layer whose channels or kernel can be cut (every "
            "such layer produces a model output or feeds a layer that fixes its width)."
        )
    return caps


def _largest_kernel(model: keras.Model) -> int:
    return max(
        (max(layer.kernel_size) for layer in model.layers if hasattr(layer, "kernel_size")),
        default=1,
    )


def _cuts_a_kernel(model: keras.Model, caps: Sequence[int]) -> bool:
    return bool(caps) and min(caps) < _largest_kernel(model)


def _kernel_sizes(model: keras.Model) -> list[int]:
    """Odd kernel-size caps from 3 to the model's largest kernel (none for 3x3 models)."""
    largest = _largest_kernel(model)
    return [] if largest <= 3 else sorted({*range(3, largest, 2), largest})


def _check_caps(kernel_size: object) -> list[int]:
    if isinstance(kernel_size, (str, bytes)) or not isinstance(kernel_size, Sequence):
        raise TypeError(
            "Argument `kernel_size` must be a list of kernel sizes, e.g. (1, 3, 5), or "
            f"None for the model's own; received {kernel_size!r}."
        )
    return sorted({check_int(f"kernel_size[{i}]", k, minimum=1) for i, k in enumerate(kernel_size)})


def _uniform_widths(space: SearchSpace, model: keras.Model, count: int) -> list[dict[str, float]]:
    """Warm-start trials: every group at one width, from the widest cut to the narrowest
    but one (what a pruning user tries first), at most ``count`` of them."""
    ladder = sorted((w for w in space.width or () if w < 1.0), reverse=True)[:-1]
    trials = [space.uniform_width(model, w) for w in ladder[: max(count, 0)]]
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


def _trial_optimizer(
    compile: dict[str, Any], factor: float, decay_steps: int | None
) -> dict[str, Any]:
    """``compile`` with a new optimizer at ``factor`` x its learning rate (a float rate).

    With ``decay_steps``, the rate decays from there to 0 along a cosine over that
    many steps (``keras.optimizers.schedules.CosineDecay``).
    """
    optimizer = keras.optimizers.get(compile.get("optimizer", "rmsprop"))
    config = keras.optimizers.serialize(optimizer)
    rate = config["config"].get("learning_rate")
    if isinstance(rate, (int, float)):
        rate = float(rate) * factor
        if decay_steps:
            schedule = keras.optimizers.schedules.CosineDecay(rate, decay_steps)
            rate = keras.optimizers.schedules.serialize(schedule)
        config["config"]["learning_rate"] = rate
    return {**compile, "optimizer": keras.optimizers.deserialize(config)}


def _steps_per_epoch(x: Any, batch_size: int | None) -> int | None:
    """Batches in one epoch over ``x`` (arrays, a dict or list of them, a dataset)."""
    if isinstance(x, keras.utils.PyDataset):
        return x.num_batches
    if hasattr(x, "element_spec"):  # a tf.data.Dataset: -1 or -2 when unknown or infinite
        count = int(x.cardinality())
        return count if count > 0 else None
    leaves = keras.tree.flatten(x)
    shape = getattr(leaves[0], "shape", None) if leaves else None
    if not shape:
        return None
    return max(1, math.ceil(int(shape[0]) / (batch_size or 32)))


def _evaluate(
    model: keras.Model, compile: dict[str, Any], validation_data: Any, batch_size: int | None
) -> dict[str, float]:
    """The given model's own validation metrics, on a copy (the user's is never touched)."""
    copy = _copy(model, compile)
    x_val, y_val = _validation_pair(validation_data)
    if y_val is None:  # a dataset of (x, y) batches
        logs = copy.evaluate(x_val, verbose=0, return_dict=True)
    else:
        logs = copy.evaluate(x_val, y_val, batch_size=batch_size, verbose=0, return_dict=True)
    return {f"val_{name}": float(value) for name, value in logs.items()}


def _validation_pair(validation_data: Any) -> tuple[Any, Any]:
    """``(x_val, y_val)``, or ``(dataset, None)`` for a dataset of ``(x, y)`` batches."""
    if hasattr(validation_data, "element_spec") or isinstance(
        validation_data, keras.utils.PyDataset
    ):
        return validation_data, None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise TypeError(
            "Argument `validation_data` must be a tuple (x_val, y_val), a tf.data.Dataset "
            "or a keras.utils.PyDataset of (x, y) batches, as `fit` takes it; received "
            f"{type(validation_data).__name__}."
        )
    return validation_data[0], validation_data[1]


def _warn_if_noisy(metric: str, value: float, y_val: Any, tolerance: float, relative: bool) -> None:
    """Warn when an accuracy's sampling error on ``y_val`` exceeds ``tolerance``.

    ``y_val`` is ``None`` for a validation dataset, whose samples are not counted.
    """
    leaves = [] if y_val is None else keras.tree.flatten(y_val)  # one per output
    count = len(leaves[0]) if leaves and hasattr(leaves[0], "__len__") else 0
    if not metric.endswith("accuracy") or not 0.0 <= value <= 1.0 or count == 0:
        return
    error = math.sqrt(value * (1.0 - value) / count)
    allowed = tolerance * value if relative else tolerance
    if error > allowed:
        warnings.warn(
            f"regsearch.shrink: {metric} is measured on {count} validation samples, so its "
            f"standard error at {value:.3f} is {error:.3f}, more than the {allowed:.3f} the "
            "tolerance allows: a model within tolerance on this validation data may be "
            "further from yours on new data. Pass more validation data, or a tolerance of "
            f"at least {error:.3f}.",
            UserWarning,
            stacklevel=3,
        )


def _pick_metric(metric: str | None, base: dict[str, float]) -> str:
    if metric is None:  # the first compiled metric (not a loss of one output of several)
        others = [name for name in base if not name.endswith("loss")]
        return others[0] if others else "val_loss"
    if metric not in base:
        raise ValueError(
            f"Argument `metric`: the model logs no {metric!r} on the validation data; it "
            f"logs {sorted(base)}. Pass one of them, or compile the model with the metric."
        )
    if infer_direction(metric) is None:
        known = sorted(name for name in base if infer_direction(name) is not None)
        raise ValueError(
            f"Argument `metric`: cannot tell whether a higher or a lower {metric!r} is "
            f"better. Pass a metric whose direction is known, one of {known}."
        )
    return metric


def shrink(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    validation_data: Any,
    tolerance: float = 0.01,
    relative: bool = False,
    metric: str | None = None,
    max_trials: int = 12,
    rounds: int = 1,
    epochs: int = 1,
    finetune_epochs: int = 5,
    refine: int = 2,
    refine_epochs: int | None = None,
    width: Sequence[float] = WIDTHS,
    kernel_size: Sequence[int] | None = None,
    learning_rate: float = 1.0,
    learning_rate_schedule: str = "cosine",
    strength: tuple[float, float] = (0.03, 3.0),
    distillation: float | str = 0.0,
    temperature: float = 2.0,
    compile: Mapping[str, Any] | None = None,
    batch_size: int | None = 32,
    directory: str | None = None,
    seed: int = 0,
    verbose: int = 1,
) -> tuple[keras.Model, keras_tuner.Tuner]:
    """The smallest trimmed model whose validation metric is within ``tolerance`` of yours.

    A model that calls other models as layers (a backbone, as in transfer learning) is
    searched as one graph of all their layers (``editing.inline_models``), so the
    backbone's channels can be cut too; the model that comes back is that flat graph.

    Derives the search space from ``model`` (``SearchSpace.for_size`` over every
    layer with a kernel: a ``StructuredSparsity`` strength per layer, a width per
    coupled channel group from ``width``, and for kernels longer than 3, caps from 3
    up to the model's own largest kernel), then runs a ``ParetoSearch`` in which every
    trial starts from ``model``'s weights (``initial_weights="model"``: narrowed layers keep their
    largest channels), trains ``epochs`` with the penalties and ``finetune_epochs``
    without, and is scored by its validation metric and trimmed MACs. The first trial
    is the model as given, with no width cut and the weakest penalty; the next ones
    cut every group to one width (e.g. 3/4, 1/2, then 1/4), as a pruning user would; the
    sampler's trials then try each combination of widths and kernel caps once while an
    untried one is left (``ParetoSearch(distinct_choices=True)``). Among the
    finished trials, the smallest whose metric is within ``tolerance`` of ``model``'s
    own (measured on ``validation_data`` first) is trimmed and returned. When none
    is, ``model`` itself comes back (a copy) and a line says so. When the metric is
    an accuracy whose standard error on ``validation_data`` (``sqrt(p (1 - p) / n)``)
    is larger than ``tolerance``, a ``UserWarning`` says so first: the choice would
    then follow the noise of the validation split.

    With ``refine > 0``, before each choice the ``refine`` smaller trials that came
    closest to the tolerance (on the (metric, trimmed MACs) front, below the trial
    that would be chosen) are trimmed and fine-tuned ``refine_epochs`` more, without
    penalties, and measured again: a deep cut needs more epochs to recover than a
    trial has, so a trial just outside the tolerance may come within it. The
    smallest model within tolerance then wins, refined or not.

    With ``rounds > 1`` the ``max_trials`` are split into rounds, as in iterative
    pruning: each round searches again from the model the round before chose (its
    trained weights, trimmed), so cuts compound and every round fine-tunes what
    the last one left. The tolerance is always measured from ``model``'s own
    metric. The search stops early when a round finds nothing smaller within it.

    Args:
        model: A trained, built Sequential or functional model. It is not changed.
        x: Training inputs (arrays), as for ``model.fit``.
        y: Training targets.
        validation_data: What "as accurate" is measured on: ``(x_val, y_val)``, or a
            ``tf.data.Dataset`` or ``keras.utils.PyDataset`` of ``(x, y)`` batches (as
            ``fit`` takes it; its samples are not counted for the warning below).
        tolerance: How much worse than ``model``'s the metric may be (absolute, in
            the metric's units: 0.01 is one accuracy point).
        relative: Read ``tolerance`` as a fraction of ``model``'s metric.
        metric: The validation metric, e.g. ``"val_accuracy"``; by default the
            model's first compiled metric, else ``"val_loss"``.
        max_trials: Trials of the search, over all rounds.
        rounds: Searches in a row, each from the model the one before chose (at
            most ``max_trials // 2``, so that every round tries a cut).
        epochs: Penalized epochs per trial. Few: from trained weights, what a cut
            model needs is the fine-tune that recovers its accuracy.
        finetune_epochs: Epochs per trial without the penalties.
        refine: How many near-miss trials to fine-tune longer before each choice
            (``0``: none). Their epochs come on top of the trials' (with the
            defaults, a third more epochs in all). Measured on four tasks, it
            found smaller models within tolerance on most, larger on one (see
            ``benchmarks/README.md``).
        refine_epochs: Epochs of each refinement; by default ``2 * (epochs +
            finetune_epochs)``.
        width: Width factors searched per coupled channel group.
        kernel_size: Largest kernel sizes searched per convolution (a cap never
            enlarges a kernel). By default, the odd sizes from 3 up to the model's
            largest kernel (no kernel-size search for a 3x3 model); pass e.g.
            ``(1, 3, 5)`` to offer 1x1 as well, or ``()`` to keep every kernel.
        learning_rate: Trials train at this multiple of the optimizer's learning rate.
            A narrowed model has to recover what the cut took, so the default keeps
            the rate it was trained at (the figures for 1.0 against 0.3 are in
            ``benchmarks/README.md``).
        learning_rate_schedule: ``"cosine"``: every trial's rate decays from there
            to 0 along a cosine over its ``epochs + finetune_epochs``, so what a trial
            is scored on is a settled fine-tune, not the last steps of a constant
            rate (the usual way to fine-tune a pruned model); ``"constant"``: it stays.
        strength: (min, max) of the ``StructuredSparsity`` strength per layer,
            relative to the data loss (``SearchSpace(relative_strength=True)``):
            at 1, a layer's penalty equals the model's data loss when its trial starts.
        distillation: Weight of ``model``'s own predictions in every trial's training
            targets (knowledge distillation: a trial learns ``distillation *
            model(x) + (1 - distillation) * y``; for cross-entropy and squared
            error that is the usual mix of the two losses). It needs sparse or
            categorical cross-entropy, binary cross-entropy or mean squared error,
            one output and NumPy arrays; ``"auto"`` is 0.5 where they hold, else 0.
            ``0`` (the default; measured, not better on every task: see
            ``benchmarks/README.md``) trains on ``y`` alone. The validation data keep
            the labels, and the models the tuner loads read them too.
        temperature: Softens ``model``'s predicted probabilities (``p ** (1 / T)``,
            renormalized) before they are mixed in, so the trials also learn which
            wrong classes ``model`` finds close; ``1`` keeps them.
        compile: ``model.compile`` arguments; by default the model's own.
        batch_size: Batch size for training and evaluation.
        directory: The tuner's directory (project ``shrink``, then ``shrink_2``, ...
            per round); a new temporary one by default.
        seed: Seed of the sampler and of Keras.
        verbose: ``1``: print one line per trial and the result; ``0``: silent
            (``model.fit``'s convention; ``True``/``False`` work too).

    Returns:
        ``(small_model, tuner)``: the trimmed model (stock Keras layers, compiled),
        and the tuner of the last round, for ``regsearch.results(tuner)`` and the
        Pareto front.

    Raises:
        TypeError, ValueError: for a subclassed or unbuilt model, a model with nothing
            to shrink, an uncompiled model without ``compile``, a ``distillation``
            weight where it cannot apply (the message says why), or bad arguments.

    Examples:
        >>> small, tuner = regsearch.shrink(  # doctest: +SKIP
        ...     model, x, y, validation_data=(x_val, y_val), tolerance=0.01)
    """
    given, model = model, _inlined(model, verbose)
    kernel_sizes = _check_model(model, kernel_size)
    if not readable_twice(x, y):
        raise TypeError(
            f"regsearch.shrink reads `x` once per trial, and a {type(x).__name__!r} can be "
            "read only once: pass arrays (with `y`), a tf.data.Dataset or a "
            "keras.utils.PyDataset."
        )
    tolerance = check_float("tolerance", tolerance)
    relative = check_bool("relative", relative)
    verbose = bool(
        check_int("verbose", int(verbose) if isinstance(verbose, bool) else verbose, minimum=0)
    )
    check_int("epochs", epochs, minimum=1)
    refine = check_int("refine", refine, minimum=0)
    refine_epochs = check_int(
        "refine_epochs",
        2 * (epochs + finetune_epochs) if refine_epochs is None else refine_epochs,
        minimum=1,
    )
    max_trials = check_int("max_trials", max_trials, minimum=1)
    rounds = _check_rounds(rounds, max_trials)
    learning_rate = check_float("learning_rate", learning_rate, exclusive_minimum=True)
    learning_rate_schedule = check_choice(
        "learning_rate_schedule", learning_rate_schedule, ("cosine", "constant")
    )
    steps = _steps_per_epoch(x, batch_size) if learning_rate_schedule == "cosine" else None
    seed = check_int("seed", seed, minimum=0)
    kwargs = _compile_kwargs(given, compile)
    weight = _distillation_weight(distillation, model, x, y, kwargs, validation_data)
    temperature = check_float("temperature", temperature, exclusive_minimum=True)
    base = _evaluate(model, kwargs, validation_data, batch_size)
    metric = _pick_metric(metric, base)
    _warn_if_noisy(metric, base[metric], _validation_pair(validation_data)[1], tolerance, relative)
    targets = soft_targets(
        model, x, y, validation_data, kwargs,
        weight=weight, temperature=temperature, batch_size=batch_size,
    ) if weight else None  # fmt: skip
    search = _RoundSearch(
        labels_compile=kwargs,
        x=x,
        y=targets.y if targets else y,
        validation_data=targets.validation_data if targets else validation_data,
        metric=metric,
        epochs=epochs,
        finetune_epochs=finetune_epochs,
        compile=targets.compile if targets else kwargs,
        learning_rate=learning_rate,
        decay_steps=steps * (epochs + finetune_epochs) if steps else None,
        space=SearchSpace.for_size(
            strength=strength,
            width=list(width),
            kernel_size=kernel_sizes or None,
            relative_strength=True,
        ),
        batch_size=batch_size,
        directory=directory or tempfile.mkdtemp(prefix="regsearch-shrink-"),
        verbose=verbose,
    )
    choice = _Choice(base[metric], tolerance, relative, verbose)
    refinement = _Refinement(search, refine, refine_epochs, steps, validation_data)
    current, tuner = model, None
    for index, trials in enumerate(_split(max_trials, rounds), start=1):
        tuner = search.run(current, trials=trials, index=index, seed=seed + index - 1)
        chosen = choice.pick(current, tuner, index, rounds, refinement)
        if chosen is None:
            break
        current = chosen
    assert tuner is not None  # at least one round ran
    return _copy(current, kwargs), tuner  # compiled as the user's, whatever trials read


def _distillation_weight(
    distillation: float | str,
    model: keras.Model,
    x: Any,
    y: Any,
    compile: dict[str, Any],
    validation_data: Any,
) -> float:
    if isinstance(distillation, str) and distillation != "auto":
        raise ValueError(
            "Argument `distillation` must be a weight in [0, 1] or 'auto'; received "
            f"{distillation!r}.{did_you_mean(distillation, ['auto'])}"
        )
    if distillation == "auto":
        return 0.0 if unsupported(model, x, y, compile, validation_data) else 0.5
    weight = check_float("distillation", distillation, maximum=1.0)
    reason = unsupported(model, x, y, compile, validation_data) if weight else None
    if reason:
        raise ValueError(
            f"Argument `distillation`={distillation!r} cannot be used here: {reason}. "
            "Pass distillation=0 (or 'auto')."
        )
    return weight


def _check_rounds(rounds: int, max_trials: int) -> int:
    rounds = check_int("rounds", rounds, minimum=1)
    if rounds > 1 and max_trials < 2 * rounds:
        raise ValueError(
            f"Argument `rounds` must be at most max_trials // 2 = {max_trials // 2} (every "
            f"round needs a trial that cuts something); received rounds={rounds} with "
            f"max_trials={max_trials}. Pass more trials or fewer rounds."
        )
    return rounds


def _split(max_trials: int, rounds: int) -> list[int]:
    """``max_trials`` in ``rounds`` near-equal parts, the larger ones first."""
    share, extra = divmod(max_trials, rounds)
    return [share + (1 if index < extra else 0) for index in range(rounds)]


@dataclasses.dataclass(frozen=True)
class _RoundSearch:
    """One round of ``shrink``: a ``ParetoSearch`` from one model's trained weights."""

    space: SearchSpace
    compile: dict[str, Any]
    labels_compile: dict[str, Any]  # the user's: what models loaded afterwards read
    learning_rate: float
    decay_steps: int | None
    metric: str
    x: Any
    y: Any
    validation_data: Any
    epochs: int
    finetune_epochs: int
    batch_size: int | None
    directory: str
    verbose: bool

    def run(self, model: keras.Model, *, trials: int, index: int, seed: int) -> keras_tuner.Tuner:
        hypermodel = RegSearchHyperModel(
            model,
            self.space,
            compile=self._with_trial_rate(self.compile),
            initial_weights="model",
            finetune_epochs=self.finetune_epochs,
        )
        first = index == 1  # later rounds start from a model already within tolerance
        keras.utils.set_random_seed(seed)
        tuner = ParetoSearch(
            hypermodel,
            objective=Objective(self.metric, size="macs", tradeoff="product", size_weight=0.1),
            max_trials=trials,
            seed=seed,
            start_from_defaults=first,
            distinct_choices=True,  # no trial spent on an architecture already measured
            # a third of the round's trials, the model as given included
            initial_trials=_uniform_widths(self.space, model, (trials + 2) // 3 - int(first)),
            directory=self.directory,
            project_name="shrink" if first else f"shrink_{index}",
            overwrite=True,
        )
        callbacks = [TrialProgress(self.metric, total=trials)] if self.verbose else []
        tuner.search(
            self.x,
            self.y,
            validation_data=self.validation_data,
            epochs=self.epochs,
            batch_size=self.batch_size,
            verbose=0,
            callbacks=callbacks,
        )
        # The trials may have read distillation targets; whoever loads a trial from the
        # tuner (best_model, trim_compiled) evaluates it on the user's labels.
        hypermodel.compile = self._with_trial_rate(self.labels_compile)
        return tuner

    def _with_trial_rate(self, compile: dict[str, Any]) -> dict[str, Any]:
        return _trial_optimizer(compile, self.learning_rate, self.decay_steps)


@dataclasses.dataclass(frozen=True)
class _Candidate:
    """A model a round may return: a trial as it trained, or refined after the search."""

    trial_id: str
    value: float  # the metric on the validation data
    macs: int
    model: keras.Model | None = None  # a refined trial's model; else loaded from the tuner


@dataclasses.dataclass(frozen=True)
class _Refinement:
    """Fine-tunes the near-miss trials of a round longer, after its search."""

    search: _RoundSearch
    count: int
    epochs: int
    steps: int | None  # per epoch, for the cosine decay; None: a constant rate
    validation_data: Any  # the user's labels

    def run(self, tuner: keras_tuner.Tuner, metric: str, below: float) -> list[_Candidate]:
        """The ``count`` front trials smaller than ``below`` MACs with the best metric
        (one per size), each trimmed, fine-tuned ``epochs`` without penalties and
        measured again."""
        if not self.count:
            return []
        front = pareto_front(tuner, (metric, "trimmed_macs"))
        front = front[front["trimmed_macs"] < below]
        best_first = front.sort_values(metric, ascending=infer_direction(metric) == "min")
        best_first = best_first.drop_duplicates("trimmed_macs")  # ties: one of each size
        return [
            self._refine(tuner, metric, str(row["trial_id"]), int(row["trimmed_macs"]))
            for _, row in best_first.head(self.count).iterrows()
        ]

    def _refine(
        self, tuner: keras_tuner.Tuner, metric: str, trial_id: str, macs: int
    ) -> _Candidate:
        search = self.search
        model = best_model(tuner, trial_id=trial_id)
        decay_steps = self.steps * self.epochs if self.steps else None
        model.compile(**_trial_optimizer(search.compile, search.learning_rate, decay_steps))
        build_training_state(model, search.x, search.y)
        model.fit(search.x, search.y, epochs=self.epochs, batch_size=search.batch_size, verbose=0)
        logs = _evaluate(model, search.labels_compile, self.validation_data, search.batch_size)
        return _Candidate(trial_id, logs[metric], macs, model)


class _Choice:
    """Picks each round's smallest model within ``tolerance`` of the given model's metric."""

    def __init__(self, reference: float, tolerance: float, relative: bool, verbose: bool) -> None:
        self.reference = reference
        self.tolerance = tolerance
        self.relative = relative
        self.verbose = verbose

    def pick(
        self,
        current: keras.Model,
        tuner: keras_tuner.Tuner,
        index: int,
        rounds: int,
        refinement: _Refinement,
    ) -> keras.Model | None:
        """The round's trimmed model, or ``None`` when it found nothing smaller than ``current``."""
        metric = tuner.oracle.objective.metric
        prefix = "regsearch.shrink:" if rounds == 1 else f"regsearch.shrink: round {index}:"
        selected = self._selected(tuner, metric)
        refined = refinement.run(tuner, metric, selected.macs if selected else math.inf)
        for candidate in refined:
            self._say(
                f"{prefix} trial {candidate.trial_id} refined for {refinement.epochs} epochs: "
                f"{metric} {candidate.value:.4f}, MACs {candidate.macs:,}"
            )
        candidates = [selected, *refined] if selected else refined
        within = [
            c
            for c in candidates
            if within_tolerance(
                c.value, self.reference, self.tolerance, relative=self.relative, metric=metric
            )
        ]
        if not within:
            kept = "the model as given" if index == 1 else f"round {index - 1}'s model"
            self._say(f"{prefix} no trial is within tolerance of yours. Returning {kept}.")
            return None
        chosen = min(within, key=lambda candidate: candidate.macs)
        before = trimmed_size(current, 0.0).macs_before
        if index > 1 and chosen.macs >= before:
            self._say(f"{prefix} nothing smaller within tolerance; stopping.")
            return None
        self._say(
            f"{prefix} trial {chosen.trial_id}{'' if chosen.model is None else ' (refined)'}: "
            f"{metric} {chosen.value:.4f} (yours {self.reference:.4f}), MACs "
            f"{chosen.macs:,} (from {before:,}: {before / max(chosen.macs, 1):.1f}x fewer)"
        )
        if chosen.model is not None:
            return chosen.model
        return best_model(tuner, trial_id=chosen.trial_id)

    def _selected(self, tuner: keras_tuner.Tuner, metric: str) -> _Candidate | None:
        """The smallest trial within tolerance, as the search measured it."""
        try:
            trial_id = select(
                tuner,
                self.tolerance,
                metric=metric,
                size="macs",
                relative=self.relative,
                reference=self.reference,
            )
        except LookupError:
            return None
        row = results(tuner).set_index("trial_id").loc[trial_id]
        value = row[metric_column(metric, [row.to_dict()])]
        return _Candidate(trial_id, float(value), int(row["trimmed_macs"]))

    def _say(self, line: str) -> None:
        if self.verbose:
            print(line, flush=True)
