"""ParetoHyperband / ParetoHyperbandOracle: real keras-tuner Hyperband searches on a tiny model."""

from __future__ import annotations

import copy
import warnings

import keras
import numpy as np
import pytest

import regsearch
from regsearch.search import SavePenalizedWeights


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("int32")
    return x, y


def _hypermodel(kernel=("none", "l1", "l2"), **kwargs):
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(4, activation="relu", name="hidden"),
            keras.layers.Dense(2, activation="softmax", name="out"),
        ]
    )
    return regsearch.RegSearchHyperModel(
        model,
        regsearch.SearchSpace(kernel=list(kernel)),
        compile={
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        },
        **kwargs,
    )


def _active(penalty):
    """Whether a weight penalty counts: set, and not behind a switch at 0 (a warmup's hold)."""
    return penalty is not None and float(getattr(penalty, "on", 1.0)) == 1.0


class _Starts(SavePenalizedWeights):
    """Records, per trial, the weights and epochs of the penalized fit (shared by copies)."""

    def __init__(self, filepath, tuner, seen):
        super().__init__(filepath)
        self.tuner, self.seen = tuner, seen

    def __deepcopy__(self, memo):
        return _Starts(self.filepath, self.tuner, self.seen)

    def _trial_id(self):
        (trial,) = self.tuner.oracle.ongoing_trials.values()
        return trial.trial_id

    def on_train_begin(self, logs=None):
        penalties = sum(_active(getattr(v, "regularizer", None)) for v in self.model.weights)
        self.seen[self._trial_id()] = {
            "weights": self.model.get_weights(),
            "epochs": [],
            "penalties": penalties,  # at the start: 0 while a penalty warmup holds them off
        }

    def on_epoch_end(self, epoch, logs=None):
        self.seen[self._trial_id()]["epochs"].append(epoch)


def _fine_tuning_tuner(tmp_path, finetune, *, finetune_epochs):
    """Brackets of 1 and 3 epochs over l1/l2 penalties, fine-tuning ``finetune_epochs``."""
    return regsearch.ParetoHyperband(
        _hypermodel(kernel=("l1", "l2"), finetune_epochs=finetune_epochs),
        objective=regsearch.Objective("val_accuracy", size="params"),
        max_epochs=3,
        factor=3,
        finetune=finetune,
        seed=1,
        directory=str(tmp_path),
        project_name=finetune,
    )


def test_promoted_trials_continue_the_front_from_their_penalized_weights(tmp_path):
    keras.utils.set_random_seed(0)
    tuner = _fine_tuning_tuner(tmp_path, "every_round", finetune_epochs=1)
    seen: dict = {}
    x, y = _data()
    tuner.search(
        x,
        y,
        validation_split=0.25,
        verbose=0,
        callbacks=[_Starts(str(tmp_path / "spare.weights.h5"), tuner, seen)],
    )
    trials = tuner.oracle.trials
    assert len(trials) == 6 and all(t.status == "COMPLETED" for t in trials.values())
    promoted = [t for t in trials.values() if "tuner/trial_id" in t.hyperparameters.values]
    assert len(promoted) == 1
    (child,) = promoted
    values = child.hyperparameters.values
    parent = trials[values["tuner/trial_id"]]
    # keras-tuner's bracket: 3 configurations for 1 epoch, the best continues to 3.
    assert parent.hyperparameters.values["tuner/epochs"] == values["tuner/initial_epoch"] == 1
    assert values["tuner/epochs"] == 3

    def space(v):
        return {k: x for k, x in v.items() if not k.startswith("tuner/")}

    assert space(values) == space(parent.hyperparameters.values)
    # Promoted by non-dominated sorting of (val_accuracy, trimmed_params).
    first_round = [
        t
        for t in trials.values()
        if t.hyperparameters.values["tuner/round"] == 0
        and t.hyperparameters.values["tuner/epochs"] == 1
    ]
    assert len(first_round) == 3
    assert tuner.oracle.promotion_order(first_round)[0].trial_id == parent.trial_id
    # It starts from the parent's last penalized epoch, not its fine-tuned checkpoint,
    # and trains penalized epochs 1 and 2 only (then its fine-tune epoch).
    start = seen[child.trial_id]["weights"]
    saved = tuner.hypermodel.build(parent.hyperparameters)
    with warnings.catch_warnings():  # the file's optimizer slots
        warnings.simplefilter("ignore", UserWarning)
        saved.load_weights(tuner.penalized_weights_path(parent.trial_id))
        tuned = tuner.load_model(parent).get_weights()
    for a, b in zip(start, saved.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(start, tuned))
    assert seen[child.trial_id]["epochs"] == [1, 2]
    assert seen[parent.trial_id]["epochs"] == [0]
    # A continuation has left the plateau: no penalty warmup, its penalties on at once.
    assert seen[parent.trial_id]["penalties"] == 0
    penalties = sum(getattr(v, "regularizer", None) is not None for v in saved.weights)
    assert seen[child.trial_id]["penalties"] == penalties > 0
    # The results API reads it like any search: every trial, at its own epochs.
    table = regsearch.results(tuner)
    assert sorted(table["tuner/epochs"]) == [1, 1, 1, 3, 3, 3]
    front = regsearch.pareto_front(tuner)
    assert set(front["trial_id"]) <= set(table["trial_id"])
    chosen = regsearch.select(tuner, 0.1)
    small = regsearch.best_model(tuner, trial_id=chosen)
    assert small.predict(x[:2], verbose=0).shape == (2, 2)


class _Reported(keras.callbacks.Callback):
    """Records, per trial, the epochs keras-tuner's callbacks see (shared by copies)."""

    def __init__(self, tuner, seen):
        super().__init__()
        self.tuner, self.seen = tuner, seen

    def __deepcopy__(self, memo):
        return _Reported(self.tuner, self.seen)

    def on_epoch_end(self, epoch, logs=None):
        (trial,) = self.tuner.oracle.ongoing_trials.values()
        self.seen.setdefault(trial.trial_id, []).append(epoch)


@pytest.mark.slow
@pytest.mark.parametrize("finetune", ["last_round", "every_round"])
def test_trials_fine_tune_in_their_last_round_only_unless_every_round(tmp_path, finetune):
    keras.utils.set_random_seed(0)
    tuner = _fine_tuning_tuner(tmp_path, finetune, finetune_epochs=2)
    penalized: dict = {}
    reported: dict = {}
    x, y = _data()
    tuner.search(
        x,
        y,
        validation_split=0.25,
        verbose=0,
        callbacks=[
            _Starts(str(tmp_path / "spare.weights.h5"), tuner, penalized),
            _Reported(tuner, reported),
        ],
    )
    trials = tuner.oracle.trials
    assert len(trials) == 6 and all(t.status == "COMPLETED" for t in trials.values())
    lower = []
    for trial_id, trial in trials.items():
        values = trial.hyperparameters.values
        start, end = values["tuner/initial_epoch"], values["tuner/epochs"]
        # Every trial trains its own round's penalized epochs, continued ones included.
        assert penalized[trial_id]["epochs"] == list(range(start, end))
        if end == 3 or finetune == "every_round":
            # Then 2 fine-tune epochs, the only ones keras-tuner sees.
            assert tuner.fine_tunes(trial)
            assert reported[trial_id] == [end, end + 1]
        else:
            # No fine-tune: keras-tuner sees the penalized epochs, the epochs trained.
            assert not tuner.fine_tunes(trial)
            assert reported[trial_id] == list(range(start, end))
            lower.append(trial)
    assert len(lower) == (3 if finetune == "last_round" else 0)
    for trial in lower:
        # Its checkpoint is its penalized model, which best_model trims as measured.
        model = regsearch.best_model(tuner, trimmed=False, trial_id=trial.trial_id)
        with warnings.catch_warnings():  # the file's optimizer slots
            warnings.simplefilter("ignore", UserWarning)
            saved = tuner.hypermodel.build(trial.hyperparameters)
            saved.load_weights(tuner.penalized_weights_path(trial.trial_id))
        for a, b in zip(model.get_weights(), saved.get_weights()):
            np.testing.assert_array_equal(a, b)
        small = regsearch.best_model(tuner, trimmed=True, trial_id=trial.trial_id)
        assert small.count_params() == trial.metrics.get_last_value("trimmed_params")
        np.testing.assert_allclose(
            small.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6
        )


def test_brackets_runs_only_the_most_exploratory_brackets_and_resumes_with_them(tmp_path):
    # max_epochs=3, factor 3: keras-tuner's Hyperband has 2 brackets, bracket 1 (3
    # configurations for 1 epoch, the best continued to 3) then bracket 0 (2 trained
    # 3 epochs). brackets=1 runs bracket 1 only: successive halving, 4 trials.
    keras.utils.set_random_seed(0)
    common = {
        "objective": regsearch.Objective("val_accuracy", size="params"),
        "max_epochs": 3,
        "seed": 1,
        "directory": str(tmp_path),
        "project_name": "asha",
    }
    tuner = regsearch.ParetoHyperband(_hypermodel(), brackets=1, **common)
    assert tuner.oracle.total_brackets() == 2
    x, y = _data()
    tuner.search(x, y, validation_split=0.25, verbose=0)
    trials = tuner.oracle.trials
    assert len(trials) == 4 and all(t.status == "COMPLETED" for t in trials.values())
    values = [t.hyperparameters.values for t in trials.values()]
    assert {v["tuner/bracket"] for v in values} == {1}
    assert sorted((v["tuner/round"], v["tuner/epochs"]) for v in values) == [
        (0, 1),
        (0, 1),
        (0, 1),
        (1, 3),
    ]
    (child,) = [v for v in values if v["tuner/round"] == 1]
    assert trials[child["tuner/trial_id"]].hyperparameters.values["tuner/round"] == 0
    assert sorted(regsearch.results(tuner)["tuner/epochs"]) == [1, 1, 1, 3]
    # Resumed (overwrite=False), the saved schedule holds: the search is over.
    again = regsearch.ParetoHyperband(_hypermodel(), overwrite=False, **common)
    assert again.oracle.brackets_per_iteration == 1
    again.search(x, y, validation_split=0.25, verbose=0)
    assert len(again.oracle.trials) == 4


def test_hyperband_oracle_validates_and_round_trips_its_config():
    oracle = regsearch.ParetoHyperbandOracle(
        regsearch.Objective("val_accuracy", size="macs"),
        9,
        3,
        brackets=2,
        tie_break="epsilon_net",
        seed=2,
    )
    again = regsearch.ParetoHyperbandOracle.from_config(copy.deepcopy(oracle.get_config()))
    assert again.get_config() == oracle.get_config()
    assert again.brackets_per_iteration == 2 and again.total_brackets() == 3
    assert again.objective_parts == [("val_accuracy", "max"), ("trimmed_macs", "min")]
    bad = {
        "max_epochs": (0, ValueError),
        "factor": (1, ValueError),
        "hyperband_iterations": (0, ValueError),
        "tie_break": ("crowded", ValueError),
        "brackets": (0, ValueError),
    }
    for name, (value, error) in bad.items():
        with pytest.raises(error, match=name):
            regsearch.ParetoHyperbandOracle(regsearch.Objective(), **{name: value})
    with pytest.raises(TypeError, match="factor"):
        regsearch.ParetoHyperband(_hypermodel(), max_epochs=3, factor=2.5)
    # max_epochs=9, factor 3: 3 brackets, whose first rounds train 1, 3 and 9 epochs.
    with pytest.raises(ValueError, match=r"brackets.*at most 3.*max_epochs=9.*received 4"):
        regsearch.ParetoHyperbandOracle(regsearch.Objective(), 9, 3, brackets=4)
    for value in (1.0, "1", True):
        with pytest.raises(TypeError, match="brackets"):
            regsearch.ParetoHyperband(_hypermodel(), max_epochs=3, brackets=value)
    with pytest.raises(TypeError, match="objective"):
        regsearch.ParetoHyperband(_hypermodel(), objective="val_loss", max_epochs=3)
    for value in ("last", None, True):
        with pytest.raises(ValueError, match=r"finetune.*'last_round', 'every_round'"):
            regsearch.ParetoHyperband(_hypermodel(), max_epochs=3, finetune=value)
    with pytest.raises(ValueError, match="Did you mean 'every_round'"):
        regsearch.ParetoHyperband(_hypermodel(), max_epochs=3, finetune="every round")
