"""keras-tuner hyperparameters as Optuna distributions (a real in-memory Optuna study)."""

import keras_tuner
import optuna
import pytest

from regsearch.oracles._distributions import suggest_values


def _ask(hp):
    study = optuna.create_study()
    trial = study.ask()
    return suggest_values(trial, hp), study.trials[0].distributions


def test_every_type_maps_to_its_distribution():
    hp = keras_tuner.HyperParameters()
    hp.Choice("act", ["relu", "tanh"])
    hp.Int("units", 8, 64, step=8)
    hp.Int("depth", 1, 16, sampling="log")
    hp.Int("grid", 2, 32, step=2, sampling="log")  # 2, 4, 8, 16, 32
    hp.Float("rate", 0.0, 0.5, step=0.1)
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Boolean("bn")
    hp.Fixed("seed", 7)
    values, distributions = _ask(hp)
    D = optuna.distributions
    assert distributions["act"] == D.CategoricalDistribution(["relu", "tanh"])
    assert distributions["units"] == D.IntDistribution(8, 64, step=8)
    assert distributions["depth"] == D.IntDistribution(1, 16, log=True)
    assert distributions["grid"] == D.CategoricalDistribution([2, 4, 8, 16, 32])
    assert distributions["rate"] == D.FloatDistribution(0.0, 0.5, step=0.1)
    assert distributions["lr"] == D.FloatDistribution(1e-4, 1e-1, log=True)
    assert distributions["bn"] == D.CategoricalDistribution([False, True])
    assert "seed" not in distributions and values["seed"] == 7
    assert set(values) == {"act", "units", "depth", "grid", "rate", "lr", "bn", "seed"}


def test_a_conditional_hyperparameter_is_asked_only_when_active():
    hp = keras_tuner.HyperParameters()
    hp.Choice("kernel", ["none", "l1"])
    with hp.conditional_scope("kernel", ["l1"]):
        hp.Float("kernel_l1_strength", 1e-6, 1e-1, sampling="log")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        values = suggest_values(trial, hp)
        seen.add(values["kernel"])
        assert ("kernel_l1_strength" in trial.params) == (values["kernel"] == "l1")
        assert set(values) == set(trial.params)
        study.tell(trial, 0.0)
    assert seen == {"none", "l1"}


class _Text(keras_tuner.engine.hyperparameters.HyperParameter):
    """A hyperparameter type Optuna has no distribution for."""

    def random_sample(self, seed=None):
        return "x"


def test_an_unmappable_hyperparameter_is_a_type_error_naming_it():
    hp = keras_tuner.HyperParameters()
    hp.merge([_Text("prompt", default="x")])
    with pytest.raises(TypeError, match="'prompt' of type _Text"):
        _ask(hp)
    hp = keras_tuner.HyperParameters()
    hp.Float("x", 1.0, 10.0, sampling="reverse_log")
    with pytest.raises(TypeError, match="reverse_log"):
        _ask(hp)
