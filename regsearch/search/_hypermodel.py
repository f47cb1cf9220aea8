"""``RegSearchHyperModel``: a keras-tuner HyperModel that searches regularizers."""

from __future__ import annotations

import inspect
import json
import numbers
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Literal

import keras
import keras_tuner
from keras_tuner.engine.trial import Trial
from keras_tuner.errors import FatalRuntimeError, FatalTypeError, FatalValueError

from regsearch._validation import check_bool, check_float, did_you_mean
from regsearch.deploy import DeploymentCost, deployment_cost
from regsearch.editing import apply
from regsearch.metrics import ActiveOutputs
from regsearch.search._calibrate import (
    calibrate_gradient_strengths,
    calibrate_strengths,
    data_loss,
    first_samples,
    readable_twice,
)
from regsearch.search._continuation import SavePenalizedWeights
from regsearch.search._data_loss import DataLoss
from regsearch.search._exact_zeros import ExactZeros
from regsearch.search._failures import report_failures
from regsearch.search._finetune import HoldZeros, remove_weight_penalties, scale_learning_rate
from regsearch.search._grow import GrowRegularizers, growing_regularizers
from regsearch.search._objective import Objective
from regsearch.search._score import ScoreCallback, collapse_of
from regsearch.search._space import SearchSpace
from regsearch.search._switch import PenaltySwitch
from regsearch.search._training_state import build_training_state
from regsearch.search._warmup import PenaltyWarmup
from regsearch.trimming import Narrower, snap_to_zero, trimmed_size

_COMPILE_KEYS = {
    "optimizer",
    "loss",
    "loss_weights",
    "metrics",
    "weighted_metrics",
    "run_eagerly",
    "steps_per_execution",
    "jit_compile",
    "auto_scale_loss",
}


def _fresh(obj: Any) -> Any:
    """A new copy of a Keras object (optimizers and metrics hold state)."""
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, keras.optimizers.Optimizer):
        return keras.optimizers.deserialize(keras.optimizers.serialize(obj))
    if isinstance(obj, (keras.metrics.Metric, keras.losses.Loss)):
        return obj.__class__.from_config(obj.get_config())
    if isinstance(obj, Mapping):
        return {k: _fresh(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_fresh(v) for v in obj)
    return obj  # functions and other stateless objects


def _find_on_callbacks(callbacks: list[Any], attr: str, kind: type) -> Any:
    for callback in callbacks:
        value = getattr(callback, attr, None)
        if isinstance(value, kind):
            return value
    return None


# The metric a collapsed trial logs (the 1-based epoch its layer emptied), on every epoch.
COLLAPSED_EPOCH = "collapsed_epoch"


def _record_collapse(
    model: keras.Model, history: keras.callbacks.History, callbacks: list[Any]
) -> keras.callbacks.History:
    """Log the collapse of ``model``'s trial, if any, into ``history`` and its trial's message.

    Every epoch of ``history`` gets ``collapsed_epoch``, so keras-tuner's best epoch
    (what the trial's metrics are) carries it, across reloads and from workers.
    """
    collapse = collapse_of(model)
    if collapse is None:
        return history
    history.history[COLLAPSED_EPOCH] = [float(collapse.epoch)] * len(history.epoch)
    trial = _find_on_callbacks(callbacks, "trial", Trial)
    if trial is not None:
        trial.message = collapse.message()
    return history


def _report_last_epoch(
    model: keras.Model, history: keras.callbacks.History, callbacks: list[Any]
) -> keras.callbacks.History:
    """Show ``callbacks`` the last epoch of ``history`` as a fit of that epoch, untrained.

    keras-tuner's callbacks (its best-epoch checkpoint, the trial's metrics) need one
    epoch with the objective in its logs for the trial to complete.
    """
    epoch = history.epoch[-1]
    logs = {name: values[-1] for name, values in history.history.items()}
    reported = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList([*callbacks, reported], model=model)
    callback_list.set_params({"verbose": 0, "epochs": epoch + 1, "steps": None})
    callback_list.on_train_begin()
    callback_list.on_epoch_begin(epoch)
    callback_list.on_epoch_end(epoch, logs)
    callback_list.on_train_end(logs)
    return reported


def _build_arguments(model: Any) -> int | None:
    """``None`` for a built model, else how many arguments the build function takes."""
    if isinstance(model, keras.Model):
        if not model.built or not model.inputs:
            raise ValueError(
                "Argument `model` must be a built Sequential or functional model (give it "
                "an `keras.Input`), or a build function; received an unbuilt or "
                f"subclassed model {model.name!r}."
            )
        return None
    if not callable(model):
        raise TypeError(
            f"Argument `model` must be a Keras model or a build function; "
            f"received {model!r} of type {type(model).__name__}."
        )
    params = [
        p
        for p in inspect.signature(model).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) > 1:
        raise TypeError(
            f"Argument `model` must take no argument or one (`hp`); "
            f"{getattr(model, '__name__', model)!r} takes {len(params)}."
        )
    return len(params)


def _check_compile(compile: Any) -> dict[str, Any] | None:
    if compile is None:
        return None
    if not isinstance(compile, Mapping):
        raise TypeError(
            f"Argument `compile` must be a dict of model.compile arguments; received {compile!r}."
        )
    unknown = set(compile) - _COMPILE_KEYS
    if unknown:
        raise ValueError(
            f"Argument `compile` has unknown keys {sorted(unknown)}; "
            f"model.compile accepts {sorted(_COMPILE_KEYS)}."
        )
    return dict(compile)


def _check_initial_weights(value: Any, model: Any) -> Literal["model"] | None:
    if value is None:
        return None
    if value != "model":
        raise ValueError(
            f"Argument `initial_weights` must be None (each trial starts from fresh "
            f'initial weights) or "model" (each trial starts from the given model\'s '
            f"weights); received {value!r}.{did_you_mean(str(value), ['model'])}"
        )
    if not isinstance(model, keras.Model):
        raise ValueError(
            'Argument `initial_weights="model"` needs a built Keras model whose weights '
            f"the trials start from; received the build function {model!r}. Pass the "
            "trained model itself, or leave initial_weights=None."
        )
    return "model"


def _check_finetune_epochs(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            f"Argument `finetune_epochs` must be an integer >= 0; received {value!r}. "
            f"Pass 0 for no fine-tuning, or e.g. finetune_epochs=5."
        )
    return int(value)


class RegSearchHyperModel(keras_tuner.HyperModel):
    """A HyperModel whose trials differ in their regularizers.

    Each ``build(hp)`` starts from a fresh copy of the user's model, lets the
    ``SearchSpace`` pick regularizers, strengths, dropout, noise and an output
    ``TopK`` for this trial (declaring them on ``hp``) and attaches them with
    ``regsearch.apply``. ``fit`` adds the score callback that writes ``score`` and
    its parts (validation metric, trimmed size, active outputs) into the epoch logs,
    where keras-tuner's best-epoch checkpoint and every tuner see them; everything
    else is passed through to ``model.fit``. With ``finetune_epochs``, ``fit``
    trains twice (the data must be iterable twice: arrays, datasets, PyDatasets).
    A model with ``Growing`` penalties (``SearchSpace(schedule=...)``) trains with
    ``regsearch.search.GrowRegularizers`` as well, which grows them epoch by epoch.

    A trial whose penalties empty a layer (every output channel counts as zero,
    so ``regsearch.trim`` refuses the model) collapses: it stops at the end of
    that epoch and completes, scored without size credit, with the epoch logged
    as ``collapsed_epoch`` and the layer named in the trial's message
    (``regsearch.results`` reads both).

    Args:
        model: A built Keras model (re-initialized for every trial unless
            ``initial_weights="model"``), a ``build(hp)`` function (its
            hyperparameters compose with the space's), or a function with no
            arguments that returns a model.
        space: The ``SearchSpace``; defaults to ``SearchSpace()``.
        compile: ``model.compile`` keyword arguments. Optimizer, loss and metric
            instances are copied for every build. ``None`` reuses the compile
            configuration of the model (or of the model ``build`` returns).
        trim_threshold: Kernel weights with ``|w| <= trim_threshold`` count as zero
            for trimming; they are set to exactly zero before every validation.
        relative_threshold: Interpret ``trim_threshold`` relative to each layer's
            largest ``|w|``.
        exact_zeros: After every training batch, set each group of weights that a
            ``StructuredSparsity`` or ``GroupLasso`` penalty has emptied (root mean
            square ``<= trim_threshold``) to exactly 0 (``regsearch.search.ExactZeros``),
            so emptied filters stay empty under Adam and the size does not depend on
            weights jittering around the threshold.
        finetune_epochs: Epochs of fine-tuning after the ``epochs`` given to
            ``tuner.search``: the weights that count as zero are set to 0 and held
            there, the weight penalties are removed from the loss, and the model
            trains on. Only these epochs are reported to keras-tuner (its
            checkpoint, the trial's metrics, its callbacks), so every trial's
            metrics and size are those of its fine-tuned model, which
            ``regsearch.best_model`` loads. A trial that collapses (below) while
            penalized is not fine-tuned; keras-tuner sees its collapsed epoch.
            A ``regsearch.search.SavePenalizedWeights`` among the callbacks sees the
            penalized epochs only (``ParetoHyperband`` continues promoted trials from
            what it saves). ``fit(..., finetune=False)`` skips the fine-tune of one
            trial (``ParetoHyperband`` does so before a configuration's last round).
            ``0`` (default) fine-tunes nothing.
        finetune_learning_rate: The fine-tune epochs train at this multiple of the
            optimizer's learning rate (a learning-rate schedule is left as it is).
            Which factor is better depends on the task (figures in
            ``benchmarks/README.md``).
        initial_weights: ``None`` (default): every trial starts from fresh initial
            weights, as ``keras.models.clone_model`` gives. ``"model"``: every trial
            starts from ``model``'s own (trained) weights, so a trial is a fine-tune
            and needs far fewer epochs. A trial that narrows layers or caps kernel
            sizes keeps the trained channels with the largest weights over each
            coupled group and the centre taps (``regsearch.trimming.narrow``);
            at width 1 it predicts what ``model`` predicts before it trains.
        penalty_warmup: Hold every penalty off until the training loss has
            fallen by a tenth from its first batch (``regsearch.search.PenaltyWarmup``),
            then train with them (relative strengths are calibrated then). A
            model trained from scratch can sit on a plateau for its first epochs,
            where nothing opposes a penalty, which then empties whole layers;
            how long depends on the task. ``None`` (default): on when trials start
            from fresh weights, off with ``initial_weights="model"`` (a trained
            model has no plateau to leave). Whatever the setting, a ``fit`` from
            ``initial_epoch > 0`` continues a trained trial (Hyperband's promoted
            trials) and starts with the penalties on.
        name: Optional HyperModel name.
        tunable: Whether the hyperparameters this HyperModel declares are tuned.

    Examples:
        >>> import keras, keras_tuner, regsearch
        >>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1, name="dense")])
        >>> hypermodel = regsearch.RegSearchHyperModel(
        ...     model, regsearch.SearchSpace(kernel=["none", "l1"]),
        ...     compile={"optimizer": "adam", "loss": "mse"})
        >>> trial_model = hypermodel.build(keras_tuner.HyperParameters())
    """

    def __init__(
        self,
        model: keras.Model | Callable[..., keras.Model],
        space: SearchSpace | None = None,
        *,
        compile: Mapping[str, Any] | None = None,
        trim_threshold: float = 1e-3,
        relative_threshold: bool = False,
        exact_zeros: bool = True,
        finetune_epochs: int = 0,
        finetune_learning_rate: float = 1.0,
        initial_weights: Literal["model"] | None = None,
        penalty_warmup: bool | None = None,
        name: str | None = None,
        tunable: bool = True,
    ) -> None:
        super().__init__(name=name, tunable=tunable)
        self._n_args = _build_arguments(model)
        if space is None:
            space = SearchSpace()
        if not isinstance(space, SearchSpace):
            raise TypeError(
                f"Argument `space` must be a regsearch.SearchSpace; received {space!r}."
            )
        self.model = model
        self.initial_weights = _check_initial_weights(initial_weights, model)
        self.penalty_warmup = (
            None if penalty_warmup is None else check_bool("penalty_warmup", penalty_warmup)
        )
        self.space = space
        self.compile = _check_compile(compile)
        self.trim_threshold = check_float("trim_threshold", trim_threshold)
        self.relative_threshold = check_bool("relative_threshold", relative_threshold)
        self.exact_zeros = check_bool("exact_zeros", exact_zeros)
        self.finetune_epochs = _check_finetune_epochs(finetune_epochs)
        self.finetune_learning_rate = check_float(
            "finetune_learning_rate", finetune_learning_rate, exclusive_minimum=True
        )
        # The compile arguments each built model got; fit() adds measurement metrics.
        self._compiled_with: weakref.WeakKeyDictionary[keras.Model, dict[str, Any]] = (
            weakref.WeakKeyDictionary()
        )
        # The (params, MACs) of the model each trial was built from, for ``size_ratio``.
        self._reference: weakref.WeakKeyDictionary[keras.Model, tuple[int, int]] = (
            weakref.WeakKeyDictionary()
        )
        # The model each trial was built from, and the deployment costs measured of
        # such models (by architecture), for Objective(size="latency"/"file_bytes").
        self._base: weakref.WeakKeyDictionary[keras.Model, keras.Model] = (
            weakref.WeakKeyDictionary()
        )
        self._base_costs: dict[str, DeploymentCost] = {}
        self._base_narrower: Narrower | None = None

    def _base_model(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        if isinstance(self.model, keras.Model):
            if self.initial_weights == "model":
                return self.model  # read only: its ``Narrower`` copies it
            return keras.models.clone_model(self.model)
        built = self.model(hp) if self._n_args == 1 else self.model()  # type: ignore[operator]
        if not isinstance(built, keras.Model):
            raise TypeError(f"The build function must return a Keras model; it returned {built!r}.")
        if not built.built or not built.inputs:
            raise ValueError(
                "The build function must return a built Sequential or functional model "
                "(start it with `keras.Input`)."
            )
        return built

    def _narrower(self, base: keras.Model) -> Narrower:
        """What narrows ``base`` (one working copy of it for every trial)."""
        if base is not self.model:  # a build function's model: new for every trial
            return Narrower(base)
        if self._base_narrower is None or self._base_narrower.model is not base:
            self._base_narrower = Narrower(base)
        return self._base_narrower

    def _compile_kwargs(self, base: keras.Model) -> dict[str, Any]:
        if self.compile is not None:
            kwargs = {k: _fresh(v) for k, v in self.compile.items()}
        else:
            source = self.model if isinstance(self.model, keras.Model) else base
            config = source.get_compile_config() if source.compiled else None
            if not config:
                raise ValueError(
                    "The model is not compiled and no `compile` was given: pass "
                    "compile={'optimizer': 'adam', 'loss': ...} to RegSearchHyperModel."
                )
            # As Model.compile_from_config does: every entry (optimizer, loss, metric
            # instances) back from its serialized form, new objects for this build.
            config = keras.saving.deserialize_keras_object(config)
            kwargs = {
                key: config.get(key)
                for key in ("optimizer", "loss", "metrics", "loss_weights", "weighted_metrics")
            }
            kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if "loss" not in kwargs or kwargs["loss"] is None:
            raise ValueError("The compile arguments need a `loss`.")
        return kwargs

    def build(self, hp: keras_tuner.HyperParameters) -> keras.Model:
        base = self._base_model(hp)
        plan = self.space.plan(hp, base)
        start = base
        if self.initial_weights == "model":
            start = self._narrower(base)(
                width=plan.pop("width"), kernel_size=plan.pop("kernel_size")
            )
        model = apply(start, **plan, keep_weights=True)
        self._remember_size(model, base)
        kwargs = self._compile_kwargs(base)
        loss = kwargs["loss"]
        if len(model.outputs) == 1 and not isinstance(loss, (Mapping, list, tuple)):
            metrics = list(kwargs.get("metrics") or [])
            metrics.append(DataLoss(_fresh(loss)))
            kwargs["metrics"] = metrics
        model.compile(**kwargs)
        self._compiled_with[model] = kwargs
        return model

    def _remember_size(self, model: keras.Model, base: keras.Model) -> None:
        """Keep ``base``'s untrimmed size: what the trial's ``size_ratio`` divides by."""
        self._base[model] = base
        try:
            size = trimmed_size(base, 0.0)
        except ValueError:
            return  # e.g. a layer initialized to zeros: the score callback says so
        self._reference[model] = (size.params_before, size.macs_before)

    def objective_for(self, callbacks: list[Any]) -> Objective:
        """The ``regsearch.Objective`` the tuner was given (found on its callbacks)."""
        found = _find_on_callbacks(callbacks, "objective", keras_tuner.Objective)
        if isinstance(found, Objective):
            return found
        if found is not None and found.name != "score":
            return Objective(found.name, direction=found.direction)
        return Objective()

    def fit(
        self,
        hp: keras_tuner.HyperParameters,
        model: keras.Model,
        *args: Any,
        finetune: bool = True,
        **kwargs: Any,
    ) -> keras.callbacks.History:
        """Train a trial's model: its penalized epochs, then (``finetune_epochs``) its fine-tune.

        Args:
            hp: The trial's hyperparameters.
            model: The model ``build(hp)`` returned.
            *args: ``model.fit`` positional arguments.
            finetune: Whether this fit fine-tunes after its penalized epochs (when
                ``finetune_epochs > 0``). ``False`` trains the penalized epochs only
                and reports them to keras-tuner, as ``finetune_epochs=0`` does:
                ``ParetoHyperband(finetune="last_round")`` passes it for trials that
                stop before ``max_epochs``.
            **kwargs: ``model.fit`` keyword arguments (``callbacks`` among them).

        Returns:
            The ``History`` of the epochs keras-tuner saw.
        """
        finetune = check_bool("finetune", finetune)
        callbacks = list(kwargs.pop("callbacks", None) or [])
        # Saved when the penalized training ends, before any fine-tune (multi-fidelity).
        phase_end = [c for c in callbacks if isinstance(c, SavePenalizedWeights)]
        callbacks = [c for c in callbacks if not isinstance(c, SavePenalizedWeights)]
        objective = self.objective_for(callbacks)
        tuner = _find_on_callbacks(callbacks, "tuner", keras_tuner.Tuner)
        if tuner is not None:
            report_failures(tuner)
        validating = bool(
            kwargs.get("validation_data") is not None or kwargs.get("validation_split")
        )
        if objective.metric.startswith("val_") and not validating:
            raise FatalValueError(
                f"The objective metric {objective.metric!r} needs validation data: pass "
                f"validation_data=... or validation_split=... to tuner.search()."
            )
        compiled = self._compile_for(model, objective)
        self._check_metric_is_logged(compiled, model, objective, validating)
        arguments = inspect.signature(model.fit).bind(*args, **kwargs).arguments
        calibrate = self._calibration(model, compiled, arguments)
        warmup = None
        # A fit from initial_epoch > 0 continues a trained trial (Hyperband): no plateau.
        if self.warms_up and not kwargs.get("initial_epoch"):
            warmup = PenaltyWarmup(on_start=calibrate)
        elif calibrate is not None:
            calibrate(model)
        if objective.measures_deployment:
            self._measure_base(model)
        build_training_state(model, arguments.get("x"), arguments.get("y"))
        if self.finetune_epochs and finetune:
            history = self._fit_then_finetune(
                model, objective, callbacks, warmup, args, kwargs, phase_end=phase_end
            )
        else:
            own = self._own_callbacks(model, objective, penalized=True, warmup=warmup)
            history = model.fit(*args, callbacks=[*own, *callbacks, *phase_end], **kwargs)
        return _record_collapse(model, history, callbacks)

    @property
    def warms_up(self) -> bool:
        """Whether trials hold their penalties off until the data loss falls."""
        if self.penalty_warmup is None:
            return self.initial_weights is None
        return self.penalty_warmup

    def _measure_base(self, model: keras.Model) -> None:
        """Measure the deployment cost of the model ``model`` was built from, once per search.

        Raises:
            FatalRuntimeError: when it cannot be measured (no LiteRT runtime, a backend
                other than TensorFlow, ...): no trial could be, so the search stops.
        """
        base, key = self._base_architecture(model)
        if key in self._base_costs:
            return
        try:
            self._base_costs[key] = deployment_cost(base)
        except Exception as error:  # the converter's own errors have no common base
            raise FatalRuntimeError(
                f"regsearch.Objective(size='latency' or 'file_bytes') measures every trial's "
                f"model in LiteRT, but the model the trials are built from cannot be "
                f"measured: {error}"
            ) from error

    def _base_architecture(self, model: keras.Model) -> tuple[keras.Model, str]:
        """The model ``model`` was built from, and its architecture (its config) as a key."""
        base = self._base.get(model, model)
        return base, json.dumps(base.get_config(), sort_keys=True, default=str)

    def _deployment_reference(self, model: keras.Model) -> DeploymentCost | None:
        """The base model's deployment cost, if ``_measure_base`` measured it."""
        return self._base_costs.get(self._base_architecture(model)[1])

    def _calibration(
        self,
        model: keras.Model,
        compiled: Mapping[str, Any],
        arguments: Mapping[str, Any],
    ) -> Callable[[keras.Model], object] | None:
        """What rescales the trial's penalties to their relative strength, if anything."""
        if not self.space.relative_strength:
            return None
        loss, weights = compiled.get("loss"), compiled.get("loss_weights")
        if not readable_twice(arguments.get("x"), arguments.get("y")):
            raise FatalTypeError(
                "SearchSpace(relative_strength=...) measures the data loss on the first "
                "training samples before each trial trains, and reading them would take "
                f"them from a {type(arguments.get('x')).__name__!r}: pass arrays, a "
                "tf.data.Dataset or a keras.utils.PyDataset as `x` (keras-tuner also "
                "reuses `x` in every trial), or use relative_strength=False."
            )
        x, y = first_samples(arguments.get("x"), arguments.get("y"))
        if self.space.relative_strength == "gradient":
            return lambda trained: calibrate_gradient_strengths(trained, loss, x, y, weights)
        return lambda trained: calibrate_strengths(trained, data_loss(trained, loss, x, y, weights))

    def _compile_for(self, model: keras.Model, objective: Objective) -> dict[str, Any]:
        """The model's compile arguments, recompiled with the metrics ``objective`` reads."""
        compiled = self._compiled_with.get(model, {})
        if objective.measures_outputs and not any(
            isinstance(m, ActiveOutputs) for m in compiled.get("metrics", [])
        ):
            compiled = {**compiled, "metrics": [*compiled.get("metrics", []), ActiveOutputs()]}
            model.compile(**compiled)
            self._compiled_with[model] = compiled
        return compiled

    def _own_callbacks(
        self,
        model: keras.Model,
        objective: Objective,
        *,
        penalized: bool,
        reported: bool = True,
        warmup: PenaltyWarmup | None = None,
    ) -> list[keras.callbacks.Callback]:
        """The score callback and, while ``penalized``, the callbacks the penalties need.

        ``reported=False``: these epochs are not the ones keras-tuner sees (the
        penalized epochs before a fine-tune), so no deployment cost is measured.
        """
        score = ScoreCallback(
            objective,
            trim_threshold=self.trim_threshold,
            relative=self.relative_threshold,
            n_outputs=int(model.outputs[0].shape[-1] or 1),
            reference=self._reference.get(model),
            deployment_reference=(
                self._deployment_reference(model) if objective.measures_deployment else None
            ),
            # keras-tuner sees only the fine-tune epochs of a fine-tuned trial.
            measure_deployment=reported,
        )
        own: list[keras.callbacks.Callback] = [score]
        if penalized and growing_regularizers(model):
            own.insert(0, GrowRegularizers(warmup))
        if penalized and self.exact_zeros:
            own.append(ExactZeros(self.trim_threshold, relative=self.relative_threshold))
        if penalized and warmup is not None:
            own.append(warmup)
        return own

    def _fit_then_finetune(
        self,
        model: keras.Model,
        objective: Objective,
        callbacks: list[Any],
        warmup: PenaltyWarmup | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        phase_end: list[SavePenalizedWeights],
    ) -> keras.callbacks.History:
        """Train with the penalties; fix the zeros; fine-tune without the penalties.

        Only the fine-tune epochs reach ``callbacks`` (keras-tuner's checkpoint and
        trial reporting among them), so the trial's best epoch is a fine-tuned one.
        A trial that collapses while penalized is not fine-tuned: ``callbacks`` see
        its collapsed epoch instead. ``phase_end`` sees the penalized epochs only.
        """
        arguments = dict(inspect.signature(model.fit).bind(*args, **kwargs).arguments)
        epochs = int(arguments.get("epochs", 1))
        penalized = [
            *self._own_callbacks(model, objective, penalized=True, reported=False, warmup=warmup),
            *phase_end,
        ]
        switch = PenaltySwitch(model) if PenaltySwitch.available() else None
        history = model.fit(**{**arguments, "callbacks": penalized})
        if collapse_of(model) is not None:
            if switch is not None:
                switch.restore()
            return _report_last_epoch(model, history, callbacks)
        snap_to_zero(model, self.trim_threshold, relative=self.relative_threshold)
        if switch is not None:
            switch.turn_off()
        else:
            remove_weight_penalties(model)
        scale_learning_rate(model.optimizer, self.finetune_learning_rate)
        finetune = [
            *self._own_callbacks(model, objective, penalized=False),
            HoldZeros.from_model(model),
            *callbacks,
        ]
        arguments.update(
            initial_epoch=epochs, epochs=epochs + self.finetune_epochs, callbacks=finetune
        )
        return model.fit(**arguments)

    @staticmethod
    def _check_metric_is_logged(
        compile_kwargs: Mapping[str, Any],
        model: keras.Model,
        objective: Objective,
        validating: bool,
    ) -> None:
        if len(model.outputs) != 1 or isinstance(compile_kwargs.get("metrics"), Mapping):
            return  # multi-output names are checked at the first epoch end
        names = {"loss"}
        for metric in list(compile_kwargs.get("metrics") or []) + list(
            compile_kwargs.get("weighted_metrics") or []
        ):
            if isinstance(metric, str):
                names.add(metric)
            elif isinstance(metric, keras.metrics.Metric):
                names.add(metric.name)
            elif callable(metric):
                names.add(getattr(metric, "__name__", str(metric)))
        available = sorted(names | ({f"val_{n}" for n in names} if validating else set()))
        if objective.metric not in available:
            raise FatalValueError(
                f"The objective metric {objective.metric!r} is not logged by this model; "
                f"available: {available}.{did_you_mean(objective.metric, available)} "
                f"Add the metric to compile(metrics=...) or change regsearch.Objective(metric=...)."
            )
