"""Seeding a Pareto study with an earlier search's finished trials (``warm_start_from``)."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable
from typing import Any

import keras_tuner
import optuna
from keras_tuner.engine.trial import Trial

from regsearch._compat.keras_tuner import project_trials
from regsearch.oracles._distributions import active_params

# The user attribute of a trial seeded from an earlier search: "<its project dir>:<trial id>".
WARM_START_ATTR = "warm_start_trial"
_COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED

# What an oracle tells its study of a finished trial: (parts, constraints), or why not.
Observe = Callable[[Trial], tuple[list[float], dict[str, float]] | str]


@dataclasses.dataclass(frozen=True)
class EarlierSearch:
    """What ``warm_start_from`` read: the earlier search's directory, space, finished trials."""

    project_dir: str
    space: keras_tuner.HyperParameters
    trials: tuple[Trial, ...]

    @classmethod
    def read(cls, source: Any) -> EarlierSearch | None:
        """Read the earlier search ``source`` names (a tuner or a project directory).

        Nothing is written.
        """
        if source is None:
            return None
        if isinstance(source, keras_tuner.Tuner):
            project_dir = str(source.project_dir)
            space, trials = source.oracle.hyperparameters, dict(source.oracle.trials)
        elif isinstance(source, (str, os.PathLike)):
            project_dir = os.fspath(source)
            if not os.path.isdir(project_dir):
                raise ValueError(
                    f"Argument `warm_start_from`: no directory {project_dir!r}. Pass the "
                    f"earlier search's tuner, or its project directory "
                    f"(os.path.join(directory, project_name))."
                )
            try:
                space, trials = project_trials(project_dir)
            except FileNotFoundError:
                raise ValueError(
                    f"Argument `warm_start_from`: {project_dir!r} is not a keras-tuner project "
                    f"directory (it has no oracle.json). Pass os.path.join(directory, "
                    f"project_name) of the earlier search, or its tuner."
                ) from None
        else:
            raise TypeError(
                f"Argument `warm_start_from` must be an earlier search's keras-tuner tuner or "
                f"its project directory (a path), or None; received {source!r} of type "
                f"{type(source).__name__}."
            )
        finished = tuple(t for _, t in sorted(trials.items()) if t.status == _COMPLETED)
        if not finished:
            raise ValueError(
                f"Argument `warm_start_from`: the search in {project_dir!r} has no finished "
                f"trial to learn from ({len(trials)} trials)."
            )
        return cls(project_dir, space, finished)

    def frozen_trials(
        self, space: keras_tuner.HyperParameters, observe: Observe, project_dir: str
    ) -> list[optuna.trial.FrozenTrial]:
        """The earlier finished trials as Optuna trials of a study over ``space``.

        ``observe`` gives each one's objective parts and constraints (under the new
        objective); a trial it cannot read is left out, with a warning.

        Raises:
            ValueError: when ``project_dir`` (the new search's) is the earlier one's,
                when ``space`` differs from the earlier space (naming the
                hyperparameter), or when no trial can be read.
        """
        if os.path.realpath(project_dir) == os.path.realpath(self.project_dir):
            raise ValueError(
                f"Argument `warm_start_from` is this search's own project directory "
                f"{project_dir!r}; to go on with a search, create its tuner with "
                f"overwrite=False. Seed a new project (another project_name) from an "
                f"earlier one."
            )
        difference = space_difference(self.space, space)
        if difference is not None:
            raise ValueError(
                f"Argument `warm_start_from`: the earlier search in {self.project_dir!r} "
                f"searched another space: {difference}. Seed only from a search of the "
                f"same space (same SearchSpace and model)."
            )
        frozen, skipped = [], []
        for trial in self.trials:
            observed = observe(trial)
            if isinstance(observed, str):
                skipped.append(observed)
                continue
            values, constraints = observed
            params, distributions = active_params(space, trial.hyperparameters.values)
            frozen.append(
                optuna.trial.create_trial(
                    values=values,
                    params=params,
                    distributions=distributions,
                    user_attrs={WARM_START_ATTR: f"{self.project_dir}:{trial.trial_id}"},
                    constraints=constraints,
                )
            )
        if not frozen:
            raise ValueError(
                f"Argument `warm_start_from`: none of the {len(self.trials)} finished "
                f"trials in {self.project_dir!r} logged this objective's parts "
                f"({skipped[0]}); seed from a search that logged them."
            )
        if skipped:
            warnings.warn(
                f"warm_start_from: {len(skipped)} of the {len(self.trials)} finished "
                f"trials in {self.project_dir!r} were left out ({skipped[0]}).",
                stacklevel=3,
            )
        return frozen


def _definition(hp: Any) -> tuple[str, dict[str, Any]]:
    """What makes a hyperparameter the same in two spaces: its type and config, not its
    default."""
    config = {k: v for k, v in hp.get_config().items() if k != "default"}
    return type(hp).__name__, config


def space_difference(
    earlier: keras_tuner.HyperParameters, space: keras_tuner.HyperParameters
) -> str | None:
    """How ``space`` differs from the ``earlier`` one, naming the hyperparameter, or ``None``."""
    before = {hp.name: hp for hp in earlier.space}
    now = {hp.name: hp for hp in space.space}
    for name in [*now, *(name for name in before if name not in now)]:
        if name not in before:
            return f"hyperparameter {name!r} is in this search's space, not in the earlier one"
        if name not in now:
            return f"hyperparameter {name!r} is in the earlier space, not in this search's"
        old, new = _definition(before[name]), _definition(now[name])
        if old != new:
            return f"hyperparameter {name!r} was {old[0]}({old[1]}), is now {new[0]}({new[1]})"
    return None
