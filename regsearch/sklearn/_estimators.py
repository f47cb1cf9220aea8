"""``RegSearchClassifier`` and ``RegSearchRegressor``."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d, validate_data

from regsearch.sklearn._base import _DTYPES, RegSearchBase

_PARAMETERS = """
    Args:
        model: ``None`` for a default MLP sized from the data (one hidden ReLU
            layer of ``2 * (n_features + n_outputs)`` units, clipped to [16, 128];
            ``model_kwargs`` may set ``hidden_units`` and ``activation``); a built
            Keras model with one input and one output (copied for every trial,
            never changed); or a function ``model(X, y, **model_kwargs)`` that
            returns one, called with the training inputs and the encoded targets.
            A compiled model keeps its loss, optimizer and metrics; an uncompiled
            one is compiled with Adam and the task's loss.
        model_kwargs: Keyword arguments for ``model`` (see above).
        space: The ``regsearch.SearchSpace``; ``None`` searches
            ``kernel=["none", "l1", "l2"]`` with ``strength=(1e-5, 1e-2)`` on every
            layer with a kernel.
        objective: A ``regsearch.Objective``; ``None`` scores the validation loss
            plus ``0.01 x`` the trimmed-size ratio (the training loss when
            ``validation_split=0``). Overrides the objective of an oracle given as
            ``tuner``.
        tuner: ``"random"``, ``"bayesian"``, ``"hyperband"`` (``max_epochs=epochs``;
            ``max_trials`` does not apply), ``"grid"``, ``"pareto"`` (a
            ``regsearch.ParetoOracle``, Optuna's multi-objective TPE), or a keras-tuner
            ``Oracle``, which is copied for every fit (never used itself).
            keras-tuner oracles cannot be pickled, so neither can an estimator
            holding one (``n_jobs > 1`` in scikit-learn's tools needs a name).
        max_trials: Number of trials (models trained) per fit.
        epochs: Epochs per trial.
        batch_size: Training batch size.
        validation_split: Fraction of the samples, drawn at random (with ``seed``),
            held out to score the trials; data too small to split is scored on
            the training samples. 0 scores on the training loss. The classifier
            stratifies it by class (binary and multiclass targets, as scikit-learn's
            MLP does), falling back to a plain random split when a class has fewer
            than two samples or either part would have fewer samples than there
            are classes.
        trim: Keep the trimmed best model (``regsearch.trim``: stock Keras
            layers, near-zero kernel edges and dead units removed) as ``model_``.
        penalty_warmup: Hold each trial's penalties off until its training loss
            has fallen by a tenth (``regsearch.search.PenaltyWarmup``), so that a
            penalty cannot empty layers while the model is still on its initial
            plateau. ``False``: penalized from the first batch.
        seed: Seeds Keras, NumPy and Python (``keras.utils.set_random_seed``) at
            the start of ``fit``, the validation split and the oracle, so that a
            fit is reproducible on one machine and backend (TensorFlow and JAX
            draw different initial weights from one seed). ``None``: not seeded.
        directory: Where keras-tuner writes its trials, kept after ``fit``: every
            fit gets its own project ``<ClassName>_<time>_<random>`` under it
            (``project_dir_``), so parallel fits (``GridSearchCV(n_jobs=2)``)
            never overwrite each other. ``None``: a temporary directory, removed
            at the end of ``fit``.
        verbose: Verbosity of keras-tuner and ``model.fit``.
        fit_kwargs: Other ``model.fit`` arguments (``callbacks``, ``shuffle``,
            ``class_weight``, ...).
"""

_ATTRIBUTES = """
    Attributes:
        model_: The best model (trimmed when ``trim=True``), compiled.
        best_params_: The best trial's hyperparameters.
        results_: ``regsearch.results`` of the search: one row per trial.
        pareto_front_: ``regsearch.pareto_front`` over the objective metric and
            the trimmed size.
        trim_report_: The ``regsearch.trimming.TrimReport`` of ``model_``; ``None``
            when ``trim=False``.
        history_: The best trial's ``History.history`` (per-epoch logs).
        project_dir_: The keras-tuner project folder of this fit under
            ``directory`` (read it with ``regsearch report``); ``None`` without
            ``directory``.
        n_features_in_: Number of features seen in ``fit``.
        feature_names_in_: Column names of ``X``, when ``X`` has string column names.
"""


class RegSearchClassifier(ClassifierMixin, RegSearchBase):
    __doc__ = (
        """A scikit-learn classifier that searches regularizers for a Keras model in ``fit``.

    ``fit`` runs a keras-tuner search (``regsearch.RegSearchHyperModel``) over the
    regularizers of ``space`` and keeps the best model, trimmed. Targets may be
    binary (one sigmoid output), multiclass (one-hot, softmax) or multilabel (a
    2-D 0/1 indicator matrix, one sigmoid output per label). For multilabel
    targets, ``SearchSpace(top_k=[...])`` adds a ``regsearch.layers.TopK`` after
    the output, so that at most k labels are predicted per sample.
    ``predict_proba`` reads the model outputs as probabilities: give a custom
    model a sigmoid or softmax output.
"""
        + _PARAMETERS
        + _ATTRIBUTES
        + """        classes_: The class labels (multilabel: the label indices).

    Examples:
        >>> from sklearn.datasets import load_iris
        >>> from regsearch import RegSearchClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = RegSearchClassifier(max_trials=1, epochs=2, seed=0).fit(X, y)
        >>> clf.predict(X[:3]).shape
        (3,)
"""
    )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        # A neural network trained for a few epochs may not reach the accuracy the
        # checks of scikit-learn expect from a classifier on their toy data.
        tags.classifier_tags.poor_score = True
        return tags

    def _validate_fit_data(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, multi_output=True, dtype=_DTYPES)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        return X, y

    def _fit_target(self, y: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
        kind = type_of_target(y, input_name="y")
        if kind in ("binary", "multiclass"):
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValueError(
                    "Classifier can't train when only one class is present: y contains "
                    f"only the class {self.classes_[0]!r}. Pass samples of at least two "
                    "classes."
                )
            index = np.searchsorted(self.classes_, y)
            if len(self.classes_) == 2:
                self._kind = "binary"
                return index.reshape(-1, 1).astype(np.float32)
            self._kind = "multiclass"
            return np.eye(len(self.classes_), dtype=np.float32)[index]
        if kind == "multilabel-indicator":
            self._kind = "multilabel"
            self._label_dtype = y.dtype
            self.classes_ = np.arange(y.shape[1])
            return np.asarray(y, dtype=np.float32)
        raise ValueError(
            "RegSearchClassifier supports binary, multiclass and multilabel-indicator "
            f"targets; y is {kind}. For several multiclass outputs, fit one classifier "
            "per output (sklearn.multioutput.MultiOutputClassifier)."
        )

    def _check_trained_targets(self, targets: np.ndarray) -> None:
        if self._kind == "multilabel":
            return
        present = np.unique(targets) if self._kind == "binary" else np.flatnonzero(targets.any(0))
        if len(present) < 2:
            raise ValueError(
                "Classifier can't train when only one class is present: only one class "
                "has samples with a positive sample_weight."
            )

    def _stratify_by(self, targets: np.ndarray) -> np.ndarray | None:
        if self._kind == "multilabel":
            return None
        return targets[:, 0] if self._kind == "binary" else np.argmax(targets, axis=1)

    def _target_description(self) -> str:
        kind = getattr(self, "_kind", "")
        return {
            "binary": "one 0/1 column for a binary target",
            "multiclass": "one-hot, one column per class",
            "multilabel": "one column per label",
        }.get(kind, "")

    def _head(self) -> tuple[str, str]:
        if self._kind == "multiclass":
            return "softmax", "categorical_crossentropy"
        return "sigmoid", "binary_crossentropy"

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities.

        Args:
            X: Array-like of shape ``(n_samples, n_features)``.

        Returns:
            ``(n_samples, n_classes)`` probabilities in the order of ``classes_``
            (rows sum to 1); for multilabel targets ``(n_samples, n_labels)``
            independent probabilities of each label.
        """
        raw = self._raw_predict(X)
        if self._kind == "binary":
            positive = np.clip(raw[:, 0], 0.0, 1.0)
            return np.column_stack([1.0 - positive, positive])
        if self._kind == "multilabel":
            return np.clip(raw, 0.0, 1.0)
        raw = np.clip(raw, 0.0, None)
        total = raw.sum(axis=1, keepdims=True)
        uniform = np.full_like(raw, 1.0 / raw.shape[1])
        return np.divide(raw, total, out=uniform, where=total > 0)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels (multilabel: a 0/1 indicator matrix).

        Args:
            X: Array-like of shape ``(n_samples, n_features)``.

        Returns:
            ``(n_samples,)`` labels from ``classes_``; for multilabel targets an
            ``(n_samples, n_labels)`` matrix with the dtype of the ``y`` given to fit.
        """
        proba = self.predict_proba(X)
        if self._kind == "multilabel":
            return (proba > 0.5).astype(self._label_dtype)
        return self.classes_[np.argmax(proba, axis=1)]


class RegSearchRegressor(RegressorMixin, RegSearchBase):
    __doc__ = (
        """A scikit-learn regressor that searches regularizers for a Keras model in ``fit``.

    ``fit`` runs a keras-tuner search (``regsearch.RegSearchHyperModel``) over the
    regularizers of ``space`` and keeps the best model, trimmed. Single- and
    multi-output targets are standardized (weighted mean 0, standard deviation 1
    per output) for training, and ``predict`` restores their scale, so that the
    default settings suit ordinary tabular data. A custom model therefore sees
    standardized targets.
"""
        + _PARAMETERS
        + _ATTRIBUTES
        + """
    Examples:
        >>> from sklearn.datasets import load_diabetes
        >>> from regsearch import RegSearchRegressor
        >>> X, y = load_diabetes(return_X_y=True)
        >>> reg = RegSearchRegressor(max_trials=1, epochs=2, seed=0).fit(X, y)
        >>> reg.predict(X[:3]).shape
        (3,)
"""
    )

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # A few epochs may fall short of the R^2 scikit-learn's checks expect.
        tags.regressor_tags.poor_score = True
        return tags

    def _validate_fit_data(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=_DTYPES)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _fit_target(self, y: np.ndarray, sample_weight: np.ndarray | None) -> np.ndarray:
        self._y_ndim = y.ndim
        values = np.asarray(y, dtype=np.float64).reshape(y.shape[0], -1)
        mean = np.average(values, axis=0, weights=sample_weight)
        std = np.sqrt(np.average((values - mean) ** 2, axis=0, weights=sample_weight))
        self._y_mean = mean
        self._y_scale = np.where(std > 0, std, 1.0)
        return ((values - self._y_mean) / self._y_scale).astype(np.float32)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, in the scale of the ``y`` given to fit.

        Args:
            X: Array-like of shape ``(n_samples, n_features)``.

        Returns:
            ``(n_samples,)`` or ``(n_samples, n_outputs)`` float64 predictions.
        """
        predictions = self._raw_predict(X) * self._y_scale + self._y_mean
        return predictions[:, 0] if self._y_ndim == 1 else predictions
