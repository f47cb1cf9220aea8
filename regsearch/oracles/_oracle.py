"""ParetoOracle: keras-tuner's Oracle API outside, an Optuna multi-objective study inside."""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import keras_tuner
import optuna

from regsearch._compat.keras_tuner import oracle_file, retry_queue
from regsearch._validation import check_bool
from regsearch.oracles._distributions import discrete_values, suggest_values
from regsearch.oracles._parts import (
    logged_sizes,
    logged_value,
    objective_parts,
    part_values,
    unqueue_ended,
)
from regsearch.oracles._samplers import (
    CONSTRAINT_ATTR,
    SAMPLERS,
    make_sampler,
)
from regsearch.oracles._warm_start import WARM_START_ATTR as WARM_START_ATTR
from regsearch.oracles._warm_start import EarlierSearch
from regsearch.search import BUDGET_COLUMNS, Objective

_hp = keras_tuner.engine.hyperparameters
STUDY_FILE = "optuna_study.db"
STUDY_NAME = "regsearch"
# User attributes of each Optuna trial: its keras-tuner trial, and how keras-tuner ended it.
TRIAL_ATTR = "keras_tuner_trial_id"
STATUS_ATTR = "keras_tuner_status"
# An Optuna trial set aside because its discrete values repeated a tried combination.
REPEAT_ATTR = "repeats_trial"
# Proposals per trial with ``distinct_choices``, as keras-tuner's own collisions limit.
MAX_PROPOSALS = 20
_RUNNING = keras_tuner.engine.trial.TrialStatus.RUNNING
_COMPLETED = keras_tuner.engine.trial.TrialStatus.COMPLETED
_ENDED = (_COMPLETED, keras_tuner.engine.trial.TrialStatus.FAILED)
_WAITING = optuna.trial.TrialState.WAITING  # enqueued, not yet asked


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Optuna's INFO lines ("Trial 3 finished ...") would repeat keras-tuner's display."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)


def _check_sampler(sampler: Any) -> str | optuna.samplers.BaseSampler:
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    if not isinstance(sampler, str):
        raise TypeError(
            f"Argument `sampler` must be one of {list(SAMPLERS)} or an optuna sampler "
            f"(for example optuna.samplers.NSGAIISampler()); received {sampler!r} of type "
            f"{type(sampler).__name__}."
        )
    make_sampler(sampler, seed=0, max_trials=None)  # checks the name
    if sampler == "gp" and importlib.util.find_spec("torch") is None:
        raise ImportError(
            "sampler='gp' uses optuna.samplers.GPSampler, which needs PyTorch; "
            "install it (pip install 'regsearch[gp]') or pick sampler='tpe'."
        )
    return sampler


def _check_initial_trials(initial_trials: Any) -> tuple[dict[str, Any], ...]:
    if isinstance(initial_trials, Mapping) or not isinstance(initial_trials, (list, tuple)):
        raise TypeError(
            "Argument `initial_trials` must be a list of dicts {hyperparameter name: "
            f"value}}, one per trial; received {initial_trials!r}."
        )
    for values in initial_trials:
        if not isinstance(values, Mapping):
            raise TypeError(
                "Argument `initial_trials` must hold one dict {hyperparameter name: value} "
                f"per trial; received an item {values!r} of type {type(values).__name__}."
            )
    return tuple(dict(values) for values in initial_trials)


def _check_trial_values(values: Mapping[str, Any], space: Mapping[str, Any]) -> None:
    """An ``initial_trials`` entry names hyperparameters of the space, with allowed values."""
    for name, value in values.items():
        if name not in space:
            hint = difflib.get_close_matches(name, space, n=1)
            raise ValueError(
                f"Argument `initial_trials` names a hyperparameter the space does not have: "
                f"{name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f". The space has {sorted(space)}."
            )  # fmt: skip
        choices = space[name].values if isinstance(space[name], _hp.Choice) else None
        if choices is not None and value not in choices:
            raise ValueError(
                f"Argument `initial_trials` gives {name!r} the value {value!r}; it is a "
                f"Choice of {list(choices)}."
            )


class ParetoOracle(keras_tuner.Oracle):
    """A keras-tuner oracle that searches for a Pareto front with an Optuna sampler.

    Every keras-tuner trial is one trial of an Optuna multi-objective study. The
    oracle asks the study for the trial's hyperparameters when keras-tuner
    creates it (only the active ones, in declaration order: a regularizer's
    strength is asked for only when that regularizer is chosen) and tells it the
    trial's objective parts when it ends, read from the trial's best epoch:

    - the validation metric of ``objective`` (``objective.metric``),
    - the trimmed size (``trimmed_params``, ``trimmed_macs``, ``latency_ms`` or
      ``file_bytes``, per ``objective.size``),
    - ``active_outputs``, when ``objective.max_active_outputs`` is set. The limit
      is then an Optuna constraint (``Trial.set_constraint``, feasible when
      ``active_outputs - max_active_outputs <= 0``), not a penalty: a trial over
      it is kept, recorded as infeasible.

    Each size budget of the objective (``max_params``, ``max_macs``,
    ``max_trimmed_params``, ``max_trimmed_macs``) is an Optuna constraint too,
    named after it, with the value ``size / limit - 1`` at the trial's best epoch.
    The samplers read every constraint (a trial is feasible when all are
    ``<= 0``: TPE, NSGA-II and the GP sampler prefer feasible trials, and
    ``study.best_trials`` holds feasible ones only); the largest is also in the
    Optuna trial's user attribute ``"constraint"``. An over-budget trial completes
    in keras-tuner as any other, and ``regsearch.results`` marks it
    (``feasible``); ``select``, ``best_model``, ``pareto_front`` and
    ``hypervolume`` leave it out.

    keras-tuner still scores each trial by ``score``, so ``get_best_trials``,
    ``tuner.get_best_models`` and ``regsearch.best_model`` pick the best weighted
    score, while the sampler explores the whole front (``regsearch.pareto_front``).

    ``warm_start_from`` seeds the study with an earlier search of the same space
    (Optuna's ``study.add_trials``): every trial that finished there is added to
    the new study, with its objective parts and constraints under *this*
    objective (read from what it logged), so the sampler learns from them
    (they count towards TPE's random start-up trials) without running them
    again. They are in the sampler's history only (``oracle.study.trials``, with
    the user attribute ``"warm_start_trial"``: ``"<earlier project dir>:<trial
    id>"``), not among this tuner's trials, ``results`` or ``max_trials``. The
    earlier project directory is only read; it must differ from this search's.
    A resumed search does not add them again.

    The study lives in ``optuna_study.db`` (SQLite, through Optuna's RDB storage)
    in the tuner's project directory, beside keras-tuner's own files. With
    ``overwrite=False`` a search killed at any point resumes: finished trials are
    kept and not run again, the trial that was running is run again, and its
    Optuna trial from the killed run is marked failed. In a distributed search
    the oracle (and the study) lives on the chief only.

    Args:
        objective: The ``regsearch.Objective``; ``None`` is ``Objective()``.
        max_trials: The number of trials.
        sampler: ``"tpe"`` (multivariate multi-objective TPE), ``"nsga2"``,
            ``"gp"`` (needs PyTorch), ``"random"``, or an Optuna sampler instance.
        seed: The sampler's random seed.
        hyperparameters: As for keras-tuner's oracles.
        allow_new_entries: As for keras-tuner's oracles.
        tune_new_entries: As for keras-tuner's oracles.
        max_retries_per_trial: As for keras-tuner's oracles.
        max_consecutive_failed_trials: As for keras-tuner's oracles.
        start_from_defaults: Run the first trial at every hyperparameter's default
            (for a ``SearchSpace``: the weakest penalty, no width cut, the largest
            kernel), so the front always holds the model as it was given.
        distinct_choices: Run each combination of the discrete hyperparameters
            (every one but the ``Float`` ones, such as strengths) once while the
            sampler can find an untried one: a proposal that repeats a trial's
            combination is set aside (an Optuna trial marked failed, with the user
            attribute ``"repeats_trial"``) and the sampler asked again, up to 20
            times, as keras-tuner's own oracles avoid repeats. After that the
            repeat runs. ``initial_trials`` and the defaults always run as given.
            For spaces whose discrete part is the architecture (widths, kernel
            sizes): the sampler would otherwise spend trials on an architecture it
            has already measured.
        initial_trials: Hyperparameter values to run next, in order, before the
            sampler proposes anything (a warm start, as Optuna's ``enqueue_trial``):
            one dict ``{name: value}`` per trial; a name it leaves out takes its
            default. A resumed search does not run them again.
        warm_start_from: An earlier search of the same space to learn from: its
            tuner (any keras-tuner tuner whose trials logged this objective's
            parts) or its project directory (``os.path.join(directory,
            project_name)``). Read when the oracle is made; its finished trials
            seed the study when the search starts (see above). A space that
            differs (a hyperparameter added, removed, or with other values) is a
            ``ValueError`` naming the hyperparameter.

    Examples:
        >>> import regsearch
        >>> oracle = regsearch.ParetoOracle(
        ...     regsearch.Objective("val_accuracy", size="macs"), max_trials=8, sampler="nsga2")
        >>> oracle.objective_parts
        [('val_accuracy', 'max'), ('trimmed_macs', 'min')]

        A search under a hard budget that learns from an earlier search:

        >>> tuner = regsearch.ParetoSearch(  # doctest: +SKIP
        ...     hypermodel,
        ...     objective=regsearch.Objective("val_accuracy", max_trimmed_macs=20_000),
        ...     max_trials=8, warm_start_from="runs/first", directory="runs",
        ...     project_name="second")
    """

    def __init__(
        self,
        objective: Objective | None = None,
        max_trials: int = 10,
        *,
        sampler: str | optuna.samplers.BaseSampler = "tpe",
        seed: int | None = None,
        hyperparameters: keras_tuner.HyperParameters | None = None,
        allow_new_entries: bool = True,
        tune_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        start_from_defaults: bool = False,
        distinct_choices: bool = False,
        initial_trials: Sequence[Mapping[str, Any]] = (),
        warm_start_from: keras_tuner.Tuner | str | os.PathLike[str] | None = None,
    ) -> None:
        objective = Objective() if objective is None else objective
        if not isinstance(objective, Objective):
            raise TypeError(
                f"Argument `objective` must be a regsearch.Objective (its metric, size and "
                f"max_active_outputs are the parts of the front); received {objective!r}. "
                f"For example regsearch.Objective('val_accuracy', size='macs')."
            )
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self.sampler = _check_sampler(sampler)
        self.start_from_defaults = check_bool("start_from_defaults", start_from_defaults)
        self.distinct_choices = check_bool("distinct_choices", distinct_choices)
        self.initial_trials = _check_initial_trials(initial_trials)
        self._earlier = EarlierSearch.read(warm_start_from)
        self.warm_start_from = None if self._earlier is None else self._earlier.project_dir
        # keras-tuner draws a seed when none is given; Optuna gets the user's.
        self.sampler_seed = seed
        self._study: optuna.Study | None = None
        self._twins: dict[str, optuna.Trial] = {}
        self._resumed = False

    @property
    def objective_parts(self) -> list[tuple[str, str]]:
        """The study's objectives: ``(logged metric, "min" or "max")``, in order."""
        return objective_parts(self.objective)

    @property
    def study(self) -> optuna.Study:
        """The Optuna study (opened, or created, in the project directory on first use)."""
        if self._study is None:
            self._study = self._open_study()
        return self._study

    def _open_study(self) -> optuna.Study:
        path = os.path.join(os.path.dirname(oracle_file(self)), STUDY_FILE)
        # Optuna reads the URL as a str.format template: braces in a path are escaped.
        url = "sqlite:///" + os.path.abspath(path).replace("{", "{{").replace("}", "}}")
        storage = optuna.storages.RDBStorage(url)
        directions: list[Literal["minimize", "maximize"]] = [
            "maximize" if d == "max" else "minimize" for _, d in self.objective_parts
        ]
        with _quiet():
            if not self._resumed and STUDY_NAME in optuna.get_all_study_names(storage):
                # A run that died before keras-tuner saved anything: start afresh too.
                optuna.delete_study(study_name=STUDY_NAME, storage=storage)
            study = optuna.create_study(
                storage=storage, study_name=STUDY_NAME, directions=directions, load_if_exists=True
            )
        if [d.name.lower() for d in study.directions] != directions:
            raise ValueError(
                f"The study in {path} has directions {study.directions}, but this "
                f"objective's parts {self.objective_parts} need {directions}: the objective "
                f"changed since the search started. Pass overwrite=True to start afresh."
            )
        # A resumed seeded sampler must not replay the draws of the first run.
        seed = None if self.sampler_seed is None else self.sampler_seed + len(study.trials)
        study.sampler = make_sampler(
            self.sampler,
            seed=seed,
            max_trials=self.max_trials,
        )
        if self._resumed:
            self._reconcile(study)
        return study

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        study = self.study
        with _quiet():
            if not study.trials:
                self._add_earlier_trials(study)
                self._enqueue_initial_trials(study)
            twin, values = self._propose(study, trial_id)
            twin.set_user_attr(TRIAL_ATTR, trial_id)
        self._twins[trial_id] = twin
        return {"status": _RUNNING, "values": values}

    def _propose(self, study: optuna.Study, trial_id: str) -> tuple[optuna.Trial, dict[str, Any]]:
        """The study's next trial and its values; with ``distinct_choices``, the first
        of ``MAX_PROPOSALS`` proposals whose discrete values no other trial has."""
        if not self.distinct_choices:
            return self._ask(study)
        tried = {
            discrete_values(trial.hyperparameters.values, self.hyperparameters)
            for other, trial in self.trials.items()
            if other != trial_id
        }
        for _ in range(MAX_PROPOSALS - 1):
            queued = bool(study.get_trials(deepcopy=False, states=(_WAITING,)))
            twin, values = self._ask(study)
            if queued or discrete_values(values, self.hyperparameters) not in tried:
                return twin, values
            twin.set_user_attr(REPEAT_ATTR, True)
            study.tell(twin, state=optuna.trial.TrialState.FAIL)
        return self._ask(study)

    def _ask(self, study: optuna.Study) -> tuple[optuna.Trial, dict[str, Any]]:
        twin = study.ask()
        try:
            return twin, suggest_values(twin, self.hyperparameters)
        except TypeError:
            study.tell(twin, state=optuna.trial.TrialState.FAIL)
            raise

    def _enqueue_initial_trials(self, study: optuna.Study) -> None:
        """Queue the defaults (``start_from_defaults``) and ``initial_trials``, in order."""
        space = {hp.name: hp for hp in self.hyperparameters.space}
        defaults = {name: hp.default for name, hp in space.items()}
        for values in self.initial_trials:
            _check_trial_values(values, space)
        queued = [defaults] if self.start_from_defaults else []
        for values in [*queued, *({**defaults, **v} for v in self.initial_trials)]:
            study.enqueue_trial({k: v for k, v in values.items() if v is not None})

    def _add_earlier_trials(self, study: optuna.Study) -> None:
        """Seed ``study`` with the finished trials of ``warm_start_from``'s search."""
        if self._earlier is not None:
            own = os.path.dirname(oracle_file(self))
            study.add_trials(
                self._earlier.frozen_trials(self.hyperparameters, self.observation, own)
            )

    def part_values(self, trial: keras_tuner.engine.trial.Trial) -> list[float] | str:
        """The trial's objective parts, or why they cannot be read (missing or not finite)."""
        return part_values(self.objective, trial)

    def constraints(self, trial: keras_tuner.engine.trial.Trial) -> dict[str, float] | str:
        """The trial's Optuna constraints (feasible when every value is ``<= 0``), or why
        they cannot be read.

        ``"active_outputs"``: ``active_outputs - max_active_outputs``; one per size
        budget of the objective (``"max_params"``, ``"max_trimmed_macs"``, ...): the
        relative excess ``size / limit - 1``, all read at the trial's best epoch.
        """
        objective = self.objective
        constraints = {}
        if objective.measures_outputs:
            active = logged_value(trial, "active_outputs")
            if active is None:
                return f"'active_outputs' of trial {trial.trial_id} is not logged"
            constraints["active_outputs"] = active - float(objective.max_active_outputs or 0.0)
        for name, excess in objective.budget_excess(logged_sizes(trial)).items():
            if not math.isfinite(excess):
                column = BUDGET_COLUMNS[name]
                return f"budget {name} needs {column!r}, which trial {trial.trial_id} did not log"
            constraints[name] = excess
        return constraints

    def observation(
        self, trial: keras_tuner.engine.trial.Trial
    ) -> tuple[list[float], dict[str, float]] | str:
        """What the study is told of a finished trial: its parts and its constraints,
        or why they cannot be read."""
        values = self.part_values(trial)
        if isinstance(values, str):
            return values
        constraints = self.constraints(trial)
        if isinstance(constraints, str):
            return constraints
        return values, constraints

    def score_trial(self, trial: keras_tuner.engine.trial.Trial) -> None:
        super().score_trial(trial)
        observed = self.observation(trial)
        if isinstance(observed, str):  # keras-tuner marks a NaN score failed
            trial.score = math.nan
            trial.message = f"regsearch.ParetoOracle: {observed}."

    @keras_tuner.synchronized
    def end_trial(self, trial: keras_tuner.engine.trial.Trial) -> None:
        study = self.study  # reconciled after a restart before this trial is recorded
        super().end_trial(trial)
        ended = self.trials[trial.trial_id]
        if ended.status in _ENDED:  # not queued for a retry
            self._tell(study, ended)

    def _tell(self, study: optuna.Study, trial: keras_tuner.engine.trial.Trial) -> None:
        twin = self._twins.pop(trial.trial_id, None) or self._revive(study, trial)
        observed = self.observation(trial) if trial.status == _COMPLETED else None
        with _quiet():
            twin.set_user_attr(STATUS_ATTR, str(trial.status))
            if not isinstance(observed, tuple):
                study.tell(twin, state=optuna.trial.TrialState.FAIL)
                return
            values, constraints = observed
            for name, value in constraints.items():
                twin.set_constraint(name, value)
            if constraints:
                twin.set_user_attr(CONSTRAINT_ATTR, max(constraints.values()))
            study.tell(twin, values)

    def _revive(self, study: optuna.Study, trial: keras_tuner.engine.trial.Trial) -> optuna.Trial:
        """A new Optuna trial with ``trial``'s values, for a trial asked by a killed run."""
        with _quiet():
            study.enqueue_trial(
                dict(trial.hyperparameters.values),
                user_attrs={TRIAL_ATTR: trial.trial_id},
                skip_if_exists=False,
            )
            twin = study.ask()
            suggest_values(twin, trial.hyperparameters)
        return twin

    def _reconcile(self, study: optuna.Study) -> None:
        """After a restart: fail the killed run's open trials, tell the ended ones."""
        told = set()
        for frozen in study.get_trials(deepcopy=False):
            if frozen.state == optuna.trial.TrialState.RUNNING:
                with _quiet():
                    study.tell(frozen.number, state=optuna.trial.TrialState.FAIL)
            elif STATUS_ATTR in frozen.user_attrs:
                told.add(frozen.user_attrs.get(TRIAL_ATTR))
        for trial_id in self.end_order:
            trial = self.trials.get(trial_id)
            if trial is not None and trial.status in _ENDED and trial_id not in told:
                self._tell(study, trial)

    def reload(self) -> None:
        """Reload keras-tuner's state; the study is reconciled when the search goes on.

        Besides keras-tuner's own reload, a trial whose ``trial.json`` says it
        ended is not queued to run again (``end_trial`` saves the trial before
        ``oracle.json``, so a kill between the two left it listed as running),
        and a trial saved as running that ``oracle.json`` does not list (a kill
        inside ``create_trial``) is queued, so that it is run.
        """
        super().reload()
        self._resumed = True
        unqueue_ended(self)
        queue = retry_queue(self)
        for trial_id, trial in self.trials.items():
            if trial.status == _RUNNING and trial_id not in queue + self.end_order:
                queue.append(trial_id)

    def __getstate__(self) -> dict[str, Any]:
        # The study holds a database connection: copies and pickles reopen it.
        state = dict(self.__dict__)
        state.update(_study=None, _twins={})
        return state

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (a sampler instance is kept as it is)."""
        return {
            "objective": self.objective.get_config(),
            "max_trials": self.max_trials,
            "sampler": self.sampler,
            "seed": self.sampler_seed,
            "allow_new_entries": self.allow_new_entries,
            "tune_new_entries": self.tune_new_entries,
            "max_retries_per_trial": self.max_retries_per_trial,
            "max_consecutive_failed_trials": self.max_consecutive_failed_trials,
            "distinct_choices": self.distinct_choices,
            "warm_start_from": self.warm_start_from,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ParetoOracle:
        config = dict(config)
        config["objective"] = Objective.from_config(config["objective"])
        return cls(**config)
