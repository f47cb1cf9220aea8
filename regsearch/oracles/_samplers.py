"""The Optuna samplers a ParetoOracle can use, by name."""

from __future__ import annotations

import warnings

import optuna

from regsearch._validation import check_choice

SAMPLERS = ("tpe", "nsga2", "gp", "random")
# The user attribute that records the largest of a trial's constraints (feasible when
# <= 0); the samplers read each from Optuna's own ``Trial.set_constraint``.
CONSTRAINT_ATTR = "constraint"


def startup_trials(max_trials: int | None) -> int:
    """Random trials before a model-based sampler takes over: a quarter, 3 to 10.

    Optuna's default (10) would leave a 16-trial search almost all random.
    """
    return 10 if max_trials is None else max(3, min(10, max_trials // 4))


def make_sampler(
    sampler: str | optuna.samplers.BaseSampler,
    *,
    seed: int | None,
    max_trials: int | None,
) -> optuna.samplers.BaseSampler:
    """The sampler called ``sampler`` (a sampler instance is returned as it is)."""
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    name = check_choice("sampler", sampler, SAMPLERS)
    startup = startup_trials(max_trials)
    with warnings.catch_warnings():
        # multivariate/group TPE and GPSampler are "experimental" in Optuna's terms.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            return optuna.samplers.TPESampler(
                multivariate=True,
                group=True,  # conditional strengths: one group per active set
                n_startup_trials=startup,
                # Trials still running count as bad guesses, so concurrent workers
                # are not all sent to the same spot; a sequential search has no
                # other running trial, so it changes nothing there.
                constant_liar=True,
                seed=seed,
            )
        if name == "nsga2":
            population = max(4, min(50, (max_trials or 200) // 4))
            return optuna.samplers.NSGAIISampler(population_size=population, seed=seed)
        if name == "gp":
            return optuna.samplers.GPSampler(n_startup_trials=startup, seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)
