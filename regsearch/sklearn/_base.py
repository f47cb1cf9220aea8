"""The shared base of the estimators: a regularizer search inside ``fit``."""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import keras
import keras_tuner
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.utils.validation import check_is_fitted, validate_data

from regsearch._validation import check_bool, check_float, check_int
from regsearch.search import (
    Objective,
    SearchSpace,
    best_model,
    best_trial,
    pareto_front,
    results,
    trim_compiled,
)
from regsearch.sklearn._mlp import mlp
from regsearch.sklearn._tuner import RecordingHyperModel, make_oracle, make_tuner, user_objective

# model.fit arguments the estimator sets itself, and the parameter to use instead.
_RESERVED_FIT_KWARGS = {
    "x": "fit(X, ...)",
    "y": "fit(..., y)",
    "sample_weight": "fit(..., sample_weight=...)",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "validation_split": "validation_split",
    "validation_data": "validation_split",
    "verbose": "verbose",
}
_MLP_KWARGS = ("hidden_units", "activation")
_DTYPES = (np.float64, np.float32)
_KERAS_BYTES = "_model_keras_bytes"
_PREDICT_CHUNK = 4096


def _check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=np.float64)
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight.shape == {weights.shape}, expected ({n_samples},): pass one "
            "weight per sample."
        )
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("Argument `sample_weight` must hold finite, non-negative numbers.")
    if not np.any(weights > 0):
        raise ValueError(
            "Sample weights must contain at least one non-zero number; every sample_weight is 0."
        )
    return weights


def _split(
    n_samples: int,
    validation_split: float,
    seed: int | None,
    *,
    classes: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Shuffled train/validation indices (in their original order).

    Keras's own ``validation_split`` takes the last rows unshuffled, which for
    sorted data (by class, by time) validates on one part of the distribution.
    With ``classes`` (one label per sample) the split is stratified, as
    scikit-learn's MLP stratifies its early-stopping split; when a class has fewer
    than two samples, or either part would be smaller than the number of classes,
    it falls back to the plain shuffled split. Data too small to split is
    validated on the training rows.
    """
    everything = np.arange(n_samples)
    if validation_split == 0:
        return everything, None
    n_val = round(n_samples * validation_split)
    if n_val == 0 or n_val >= n_samples:
        return everything, everything
    if classes is not None:
        counts = np.unique(classes, return_counts=True)[1]
        if counts.min() >= 2 and min(n_val, n_samples - n_val) >= len(counts):
            splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
            train, val = next(splitter.split(np.zeros((n_samples, 1)), classes))
            return np.sort(train), np.sort(val)
    order = np.random.default_rng(seed).permutation(n_samples)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _search_directory(directory: str | os.PathLike[str] | None, prefix: str) -> tuple[str, str]:
    """``(directory, project_name)`` of one fit's search.

    A given ``directory`` gets a new project ``<prefix>_<time>_<random>`` for every
    fit, created atomically, so parallel fits (``GridSearchCV(n_jobs=2)``) never
    share or overwrite one. Without ``directory``: a temporary folder.
    """
    if directory is None:
        return tempfile.mkdtemp(prefix="regsearch_"), prefix
    root = os.fspath(directory)
    os.makedirs(root, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    project = tempfile.mkdtemp(prefix=f"{prefix}_{stamp}_", dir=root)
    return root, os.path.basename(project)


def _model_to_bytes(model: keras.Model) -> bytes:
    with tempfile.TemporaryDirectory(prefix="regsearch_") as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def _model_from_bytes(data: bytes) -> keras.Model:
    with tempfile.TemporaryDirectory(prefix="regsearch_") as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as f:
            f.write(data)
        return keras.saving.load_model(path)


class RegSearchBase(BaseEstimator):
    """Shared implementation of ``RegSearchClassifier`` and ``RegSearchRegressor``.

    Subclasses define the data checks (``_validate_fit_data``), the target
    encoding (``_fit_target``), the output layer and loss (``_head``) and the
    predictions.
    """

    def __init__(
        self,
        model: keras.Model | Callable[..., keras.Model] | None = None,
        *,
        model_kwargs: Mapping[str, Any] | None = None,
        space: SearchSpace | None = None,
        objective: keras_tuner.Objective | None = None,
        tuner: str | keras_tuner.Oracle = "random",
        max_trials: int = 5,
        epochs: int = 30,
        batch_size: int = 32,
        validation_split: float = 0.2,
        trim: bool = True,
        penalty_warmup: bool = True,
        seed: int | None = None,
        directory: str | os.PathLike[str] | None = None,
        verbose: int = 0,
        fit_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.model_kwargs = model_kwargs
        self.space = space
        self.objective = objective
        self.tuner = tuner
        self.max_trials = max_trials
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.trim = trim
        self.penalty_warmup = penalty_warmup
        self.seed = seed
        self.directory = directory
        self.verbose = verbose
        self.fit_kwargs = fit_kwargs

    # ----------------------------------------------------------------- tags
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # Without a seed the initial weights, the validation split and the trials
        # differ from fit to fit; with one a fit is reproducible on one machine.
        tags.non_deterministic = self.seed is None
        tags.target_tags.multi_output = True
        return tags

    # ----------------------------------------------------------- parameters
    def _check_params(self) -> dict[str, Any]:
        """Validate the parameters (at fit time; ``__init__`` only stores them)."""
        checked: dict[str, Any] = {
            "max_trials": check_int("max_trials", self.max_trials, minimum=1),
            "epochs": check_int("epochs", self.epochs, minimum=1),
            "batch_size": check_int("batch_size", self.batch_size, minimum=1),
            "validation_split": check_float(
                "validation_split", self.validation_split, minimum=0.0, maximum=0.9
            ),
            "verbose": check_int("verbose", self.verbose, minimum=0),
        }
        check_bool("trim", self.trim)
        check_bool("penalty_warmup", self.penalty_warmup)
        if self.seed is not None:
            checked["seed"] = check_int("seed", self.seed, minimum=0)
        else:
            checked["seed"] = None
        if self.space is not None and not isinstance(self.space, SearchSpace):
            raise TypeError(
                f"Argument `space` must be a regsearch.SearchSpace or None; received "
                f"{self.space!r}."
            )
        if self.objective is not None and not isinstance(self.objective, keras_tuner.Objective):
            raise TypeError(
                "Argument `objective` must be a regsearch.Objective (for example "
                f"regsearch.Objective('val_loss', size_weight=0.1)) or None; received "
                f"{self.objective!r}."
            )
        for name in ("model_kwargs", "fit_kwargs"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                raise TypeError(f"Argument `{name}` must be a dict or None; received {value!r}.")
        reserved = sorted(set(self.fit_kwargs or {}) & set(_RESERVED_FIT_KWARGS))
        if reserved:
            raise ValueError(
                f"Argument `fit_kwargs` must not set {reserved}: the estimator sets them. "
                f"Use {[_RESERVED_FIT_KWARGS[k] for k in reserved]} instead."
            )
        if self.directory is not None and not isinstance(self.directory, (str, os.PathLike)):
            raise TypeError(
                f"Argument `directory` must be a path or None; received {self.directory!r}."
            )
        return checked

    def _objective(self, validating: bool) -> keras_tuner.Objective:
        objective = self.objective if self.objective is not None else user_objective(self.tuner)
        if objective is None:
            # Validation loss with a small weight on the trimmed size: among trials
            # that fit about as well, the smaller trimmed model wins.
            return Objective("val_loss" if validating else "loss", size_weight=0.01)
        metric = objective.metric if isinstance(objective, Objective) else objective.name
        if metric.startswith("val_") and not validating:
            raise ValueError(
                f"The objective metric {metric!r} needs validation data, but "
                "validation_split=0. Set validation_split > 0 or use a training metric "
                "such as regsearch.Objective('loss')."
            )
        return copy.deepcopy(objective)

    def _default_space(self) -> SearchSpace:
        return SearchSpace(kernel=["none", "l1", "l2"], strength=(1e-5, 1e-2))

    # --------------------------------------------------------------- models
    def _base_model(self, X: np.ndarray, targets: np.ndarray) -> keras.Model:
        """The model every trial starts from (the search copies it; it is never fit)."""
        n_features, n_outputs = X.shape[1], targets.shape[1]
        kwargs = dict(self.model_kwargs or {})
        if self.model is None:
            unknown = sorted(set(kwargs) - set(_MLP_KWARGS))
            if unknown:
                raise ValueError(
                    f"Argument `model_kwargs` has {unknown}, which the default model does not "
                    f"take; it takes {list(_MLP_KWARGS)}."
                )
            activation = self._head()[0]
            return mlp(n_features, n_outputs, output_activation=activation, **kwargs)
        if isinstance(self.model, keras.Model):
            if kwargs:
                raise ValueError(
                    "Argument `model_kwargs` applies only when `model` is a function "
                    "model(X, y, **model_kwargs); `model` is a Keras model."
                )
            model = self.model
        elif callable(self.model):
            model = self.model(X=X, y=targets, **kwargs)
            if not isinstance(model, keras.Model):
                raise TypeError(
                    f"The `model` function must return a Keras model; it returned {model!r}."
                )
        else:
            raise TypeError(
                "Argument `model` must be None, a Keras model or a function "
                f"model(X, y, **model_kwargs) that returns one; received {self.model!r}."
            )
        if not model.inputs or len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(
                "Argument `model` must be a built model with one input and one output "
                "(start it with keras.Input((n_features,)))."
            )
        if model.inputs[0].shape[-1] != n_features:
            raise ValueError(
                f"The model takes inputs of width {model.inputs[0].shape[-1]}, but X has "
                f"{n_features} features."
            )
        if model.outputs[0].shape[-1] != n_outputs:
            raise ValueError(
                f"The model has {model.outputs[0].shape[-1]} outputs, but the encoded "
                f"targets have {n_outputs} columns ({self._target_description()}). Give "
                f"the output layer {n_outputs} units."
            )
        return model

    def _target_description(self) -> str:
        return "one per target"

    def _head(self) -> tuple[str, str]:
        """Output activation and loss of the default model for the targets seen in ``fit``."""
        return "linear", "mse"

    def _compile_kwargs(self, model: keras.Model) -> dict[str, Any] | None:
        if model.compiled and getattr(model, "loss", None) is not None:
            return None  # the search reuses the model's own compile configuration
        return {"optimizer": "adam", "loss": self._head()[1]}

    # ------------------------------------------------------------------ fit
    def _validate_fit_data(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _fit_target(self, y: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def _check_trained_targets(self, targets: np.ndarray) -> None:
        """Hook: check the targets left once zero-weighted samples are dropped."""

    def _stratify_by(self, targets: np.ndarray) -> np.ndarray | None:
        """Hook: one class label per sample to stratify the validation split, or None."""
        return None

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> RegSearchBase:
        """Search regularizers for the model on ``X, y`` and keep the best model.

        Args:
            X: Array-like of shape ``(n_samples, n_features)``.
            y: Targets, see the class docstring.
            sample_weight: Optional per-sample weights. Samples of weight 0 are
                left out of training and validation.

        Returns:
            The fitted estimator.
        """
        X, y = self._validate_fit_data(X, y)
        weights = _check_sample_weight(sample_weight, X.shape[0])
        params = self._check_params()
        inputs, targets, weights = self._training_data(X, y, weights)
        seed = params["seed"]
        if seed is not None:
            keras.utils.set_random_seed(seed)
        train, val = _split(
            inputs.shape[0],
            params["validation_split"],
            seed,
            classes=self._stratify_by(targets),
        )
        base = self._base_model(inputs, targets)
        space = copy.deepcopy(self.space) if self.space is not None else self._default_space()
        objective = self._objective(validating=val is not None)
        hypermodel = RecordingHyperModel(
            base, space, compile=self._compile_kwargs(base), penalty_warmup=self.penalty_warmup
        )
        oracle = make_oracle(
            self.tuner,
            objective,
            max_trials=params["max_trials"],
            epochs=params["epochs"],
            seed=seed,
        )
        search_kwargs = self._search_kwargs(params, inputs, targets, weights, val)
        if weights is not None:
            search_kwargs["sample_weight"] = weights[train]
        directory, project_name = _search_directory(self.directory, type(self).__name__)
        try:
            tuner = make_tuner(oracle, hypermodel, directory=directory, project_name=project_name)
            tuner.search(inputs[train], targets[train], **search_kwargs)
            self._keep_results(tuner, hypermodel, objective)
            self.project_dir_ = None if self.directory is None else tuner.project_dir
        finally:
            if self.directory is None:
                shutil.rmtree(directory, ignore_errors=True)
        return self

    def _training_data(
        self, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """float32 inputs, encoded targets and weights; zero-weight samples left out."""
        targets = self._fit_target(y, weights)
        inputs = np.asarray(X, dtype=np.float32)
        if weights is not None:
            keep = weights > 0
            inputs, targets, weights = inputs[keep], targets[keep], weights[keep]
            self._check_trained_targets(targets)
            if np.all(weights == 1.0):
                weights = None  # the same as unweighted, bit for bit
        return inputs, targets, weights

    def _search_kwargs(
        self,
        params: dict[str, Any],
        inputs: np.ndarray,
        targets: np.ndarray,
        weights: np.ndarray | None,
        val: np.ndarray | None,
    ) -> dict[str, Any]:
        """``tuner.search`` arguments besides the training data and its weights."""
        search_kwargs: dict[str, Any] = {
            **dict(self.fit_kwargs or {}),
            "epochs": params["epochs"],
            "batch_size": params["batch_size"],
            "verbose": params["verbose"],
        }
        if val is not None:
            val_data = (inputs[val], targets[val])
            search_kwargs["validation_data"] = (
                val_data if weights is None else (*val_data, weights[val])
            )
        return search_kwargs

    def _keep_results(
        self,
        tuner: keras_tuner.Tuner,
        hypermodel: RecordingHyperModel,
        objective: keras_tuner.Objective,
    ) -> None:
        # Raises, quoting the reasons, when no trial finished.
        trained = best_model(tuner, trimmed=False)
        best = best_trial(tuner)
        report = None
        model = trained
        if self.trim:
            model, report = trim_compiled(hypermodel, trained)
        if model.optimizer is not None and not model.optimizer.built:
            # Give the optimizer its slots now, so that the model saves and loads
            # (pickle) without a variable-count mismatch.
            model.optimizer.build(model.trainable_variables)
        metric = objective.metric if isinstance(objective, Objective) else objective.name
        size = objective.size_column if isinstance(objective, Objective) else "trimmed_params"
        self.model_ = model
        self.best_params_ = dict(best.hyperparameters.values)
        self.results_ = results(tuner)
        self.pareto_front_ = pareto_front(tuner, objectives=(metric, size))
        self.trim_report_ = report
        self.history_ = hypermodel.histories.get(best.trial_id, {})

    # -------------------------------------------------------------- predict
    def _raw_predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_DTYPES)
        inputs = np.asarray(X, dtype=np.float32)
        # Calling the model directly, in chunks, avoids tracing a predict function
        # for every fitted model (``Model.predict``'s documented advice for inputs
        # that fit in a batch); the outputs are the same.
        chunks = [
            keras.ops.convert_to_numpy(self.model_(inputs[i : i + _PREDICT_CHUNK], training=False))
            for i in range(0, max(inputs.shape[0], 1), _PREDICT_CHUNK)
        ]
        return np.concatenate(chunks).astype(np.float64)

    # ------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        """Store the fitted Keras model as ``.keras`` bytes (no global patching)."""
        state = dict(super().__getstate__())
        model = state.pop("model_", None)
        if model is not None:
            state[_KERAS_BYTES] = _model_to_bytes(model)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        data = state.pop(_KERAS_BYTES, None)
        if data is not None:
            state["model_"] = _model_from_bytes(data)
        super().__setstate__(state)
