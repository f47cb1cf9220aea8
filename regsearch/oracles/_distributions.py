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


def distribution(hp: Any) -> optuna.distributions.BaseDistribution | None:
    """The Optuna distribution of the keras-tuner hyperparameter ``hp`` (``None``: ``Fixed``).

    ``Choice`` and ``Boolean`` are categorical; ``Int`` and ``Float`` are ranges
    (``sampling="log"`` is Optuna's ``log=True``, a linear ``step`` its ``step``);
    a log or reverse-log range with a step (a multiplicative grid) is categorical
    over its values; ``Fixed`` is its value (nothing to sample).

    Raises:
        TypeError: for a hyperparameter that has no Optuna distribution.
    """
    D = optuna.distributions
    if isinstance(hp, _hp.Fixed):
        return None
    if isinstance(hp, _hp.Boolean):
        return D.CategoricalDistribution([False, True])
    if isinstance(hp, _hp.Choice):
        return D.CategoricalDistribution(list(hp.values))
    if isinstance(hp, (_hp.Int, _hp.Float)):
        grid = _grid_or_none(hp)
        if grid is not None:
            return D.CategoricalDistribution(grid)
        if hp.sampling == "reverse_log":
            raise TypeError(
                f"Hyperparameter {hp.name!r} ({type(hp).__name__} with sampling='reverse_log' "
                "and no step) has no Optuna distribution; give it a step, or use "
                "sampling='log' or 'linear'."
            )
        log = hp.sampling == "log"
        if isinstance(hp, _hp.Int):
            step = 1 if log or hp.step is None else int(hp.step)
            return D.IntDistribution(hp.min_value, hp.max_value, step=step, log=log)
        return D.FloatDistribution(
            hp.min_value, hp.max_value, step=None if log else hp.step, log=log
        )
    raise TypeError(
        f"Hyperparameter {hp.name!r} of type {type(hp).__name__} has no Optuna distribution; "
        "ParetoOracle maps Choice, Int, Float, Boolean and Fixed."
    )


def suggest(trial: optuna.Trial, hp: Any) -> Any:
    """Ask ``trial`` for a value of the keras-tuner hyperparameter ``hp``.

    The value is drawn from ``distribution(hp)``; a ``Fixed`` one is its value.

    Raises:
        TypeError: for a hyperparameter that has no Optuna distribution.
    """
    dist = distribution(hp)
    D = optuna.distributions
    if dist is None:
        return hp.value
    if isinstance(dist, D.CategoricalDistribution):
        return trial.suggest_categorical(hp.name, list(dist.choices))
    if isinstance(dist, D.IntDistribution):
        return trial.suggest_int(hp.name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, D.FloatDistribution):
        return trial.suggest_float(hp.name, dist.low, dist.high, step=dist.step, log=dist.log)
    raise TypeError(f"Hyperparameter {hp.name!r}: no way to ask for a {dist!r}.")


def active_params(
    space: keras_tuner.HyperParameters, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, optuna.distributions.BaseDistribution]]:
    """The Optuna params and distributions of a finished trial's ``values`` in ``space``.

    Only the hyperparameters that ``values`` activates count (as ``suggest_values``
    asks them); one that ``values`` lacks takes its default; ``Fixed`` ones are left
    out (Optuna never sees them).
    """
    hps = keras_tuner.HyperParameters()
    params: dict[str, Any] = {}
    distributions: dict[str, optuna.distributions.BaseDistribution] = {}
    for hp in space.space:
        hps.merge([hp])
        if not hps.is_active(hp):
            continue
        value = values.get(hp.name, hp.default)
        hps.values[hp.name] = value
        dist = distribution(hp)
        if dist is not None:
            params[hp.name], distributions[hp.name] = value, dist
    return params, distributions


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


def discrete_values(
    values: dict[str, Any], space: keras_tuner.HyperParameters
) -> tuple[tuple[str, Any], ...]:
    """The ``(name, value)`` pairs of ``values`` that are not ``Float`` hyperparameters of
    ``space``, sorted: what makes two trials the same combination of discrete choices."""
    floats = {hp.name for hp in space.space if isinstance(hp, _hp.Float)}
    return tuple(sorted((name, v) for name, v in values.items() if name not in floats))
