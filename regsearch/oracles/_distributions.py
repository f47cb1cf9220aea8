"""keras-tuner hyperparameters as Optuna distributions, sampled define-by-run."""

from __future__ import annotations

from typing import Any

import keras_tuner
import optuna

_hp = keras_tuner.engine.hyperparameters


def _grid_or_none(hp: Any) -> list[Any] | None:
    """The value grid Optuna cannot express as a range: log steps multiply, not add."""
    if hp.sampling == "linear" or hp.step is None:
        return None
    return list(hp.values)


def suggest(trial: optuna.Trial, hp: Any) -> Any:
    """Ask ``trial`` for a value of the keras-tuner hyperparameter ``hp``.

    ``Choice`` and ``Boolean`` are categorical; ``Int`` and ``Float`` are ranges
    (``sampling="log"`` is Optuna's ``log=True``, a linear ``step`` its ``step``);
    a log or reverse-log range with a step (a multiplicative grid) is categorical
    over its values; ``Fixed`` is its value (nothing to sample).

    Raises:
        TypeError: for a hyperparameter that has no Optuna distribution.
    """
    if isinstance(hp, _hp.Fixed):
        return hp.value
    if isinstance(hp, _hp.Boolean):
        return trial.suggest_categorical(hp.name, [False, True])
    if isinstance(hp, _hp.Choice):
        return trial.suggest_categorical(hp.name, list(hp.values))
    if isinstance(hp, (_hp.Int, _hp.Float)):
        grid = _grid_or_none(hp)
        if grid is not None:
            return trial.suggest_categorical(hp.name, grid)
        if hp.sampling == "reverse_log":
            raise TypeError(
                f"Hyperparameter {hp.name!r} ({type(hp).__name__} with sampling='reverse_log' "
                "and no step) has no Optuna distribution; give it a step, or use "
                "sampling='log' or 'linear'."
            )
        log = hp.sampling == "log"
        if isinstance(hp, _hp.Int):
            step = 1 if log or hp.step is None else int(hp.step)
            return trial.suggest_int(hp.name, hp.min_value, hp.max_value, step=step, log=log)
        return trial.suggest_float(
            hp.name, hp.min_value, hp.max_value, step=None if log else hp.step, log=log
        )
    raise TypeError(
        f"Hyperparameter {hp.name!r} of type {type(hp).__name__} has no Optuna distribution; "
        "ParetoOracle maps Choice, Int, Float, Boolean and Fixed."
    )


def suggest_values(trial: optuna.Trial, space: keras_tuner.HyperParameters) -> dict[str, Any]:
    """Values for the active hyperparameters of ``space``, asked in declaration order.

    A conditional hyperparameter (declared in a ``conditional_scope``) is asked
    for only when its parent's value activates it, so Optuna never learns a
    value that the trial does not use.
    """
    hps = keras_tuner.HyperParameters()
    for hp in space.space:
        hps.merge([hp])
        if hps.is_active(hp):
            hps.values[hp.name] = suggest(trial, hp)
    return dict(hps.values)
