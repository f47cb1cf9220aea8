import keras
import keras_tuner
import numpy as np
import pytest

import regsearch
from regsearch.regularizers import Growing, StructuredSparsity
from regsearch.search import DataLoss, ExactZeros, GrowRegularizers, PenaltyWarmup
from regsearch.search._switch import PenaltySwitch


def _regression(n=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, x @ np.array([[1.0], [-2.0], [0.5], [0.0]], "float32")


def _model(learning_rate, **layer_kwargs):
    """A linear model whose loss logs the penalty (``loss``) and the data alone (``data_loss``)."""
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(1, name="dense", **layer_kwargs)]
    )
    model.compile(keras.optimizers.SGD(learning_rate), "mse", metrics=[DataLoss("mse")])
    return model


def _penalty_per_epoch(history):
    return np.subtract(history.history["loss"], history.history["data_loss"])


def test_penalties_start_after_the_first_epoch_whose_loss_fell_and_come_back_at_the_end():
    keras.utils.set_random_seed(0)
    x, y = _regression()
    model = _model(0.1, kernel_regularizer="l2", activity_regularizer="l1")
    warmup = PenaltyWarmup(0.1)
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[warmup])
    assert warmup.started_at == 1
    penalty = _penalty_per_epoch(history)
    assert penalty[0] == pytest.approx(0.0, abs=1e-6)
    assert (penalty[1:] > 1e-3).all()
    layer = model.get_layer("dense")
    assert isinstance(layer.kernel.regularizer, keras.regularizers.L2)
    assert isinstance(layer.activity_regularizer, keras.regularizers.L1)


def test_a_model_that_does_not_learn_is_never_penalized_unless_max_epochs_says_so():
    # Identical samples and SGD(0): every batch has the same loss, which never falls.
    x, y = np.ones((128, 4), "float32"), np.zeros((128, 1), "float32")
    frozen = _model(0.0, kernel_regularizer="l2", kernel_initializer="ones")
    waiting = PenaltyWarmup()
    history = frozen.fit(x, y, epochs=3, verbose=0, callbacks=[waiting])
    assert waiting.started_at is None
    np.testing.assert_allclose(_penalty_per_epoch(history), 0.0, atol=1e-6)
    assert frozen.get_layer("dense").kernel.regularizer is not None  # given back at the end

    capped = PenaltyWarmup(max_epochs=2)
    history = frozen.fit(x, y, epochs=3, verbose=0, callbacks=[capped])
    assert capped.started_at == 2
    assert (_penalty_per_epoch(history) > 1e-6).tolist() == [False, False, True]


def test_on_start_sees_the_model_with_its_penalties_attached():
    keras.utils.set_random_seed(0)
    x, y = _regression()
    model = _model(0.05, kernel_regularizer="l2")
    seen = []
    warmup = PenaltyWarmup(on_start=lambda m: seen.append(m.get_layer("dense").kernel.regularizer))
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[warmup])
    assert len(seen) == 1 and isinstance(seen[0], keras.regularizers.L2)


def test_cross_layer_penalties_are_held_off_too():
    keras.utils.set_random_seed(0)
    x, y = _regression()
    inputs = keras.Input((4,))
    branches = [keras.layers.Dense(3, name=name)(inputs) for name in ("a", "b")]
    outputs = keras.layers.Dense(1, name="head")(keras.layers.Add()(branches))
    model = keras.Model(inputs, outputs)
    crossed = regsearch.CrossLayer(["a", "b"], "l2", axis=1)
    model = regsearch.apply(model, cross_layer=[crossed])
    model.compile(keras.optimizers.SGD(0.02), "mse", metrics=[DataLoss("mse")])
    warmup = PenaltyWarmup(max_epochs=1)
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[warmup])
    penalty = _penalty_per_epoch(history)
    assert penalty[0] == pytest.approx(0.0, abs=1e-6) and penalty[1] > 1e-3


def test_growing_schedules_and_exact_zeros_follow_the_penalties_wherever_the_warmup_is_listed():
    keras.utils.set_random_seed(0)
    x, y = _regression()
    growing = Growing(StructuredSparsity(1.0), start=0.25, growth=2.0)
    model = _model(0.05, kernel_regularizer=growing)
    warmup = PenaltyWarmup(max_epochs=2)
    multipliers = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: multipliers.append(growing.current())
    )
    callbacks = [warmup, GrowRegularizers(warmup), ExactZeros(0.05), record]
    model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=callbacks)
    # The schedule starts at epoch 2, where the penalties start: 0.25, then 0.5.
    assert multipliers[2:] == [0.25, 0.5]
    # A strong penalty empties the useless input's row; ExactZeros found the
    # penalty although the warmup had detached it when training began.
    kernel = keras.ops.convert_to_numpy(model.get_layer("dense").kernel)
    assert kernel[3, 0] == 0.0


def _count_traces(model):
    """Count how often ``model``'s train and test steps are traced (their Python runs)."""
    traces = {"train": 0, "test": 0}
    train_step, test_step = model.train_step, model.test_step

    def counted_train_step(data):
        traces["train"] += 1
        return train_step(data)

    def counted_test_step(data):
        traces["test"] += 1
        return test_step(data)

    model.train_step, model.test_step = counted_train_step, counted_test_step
    return traces


@pytest.mark.skipif(
    not PenaltySwitch.available(), reason="other backends trace the steps again on start"
)
def test_on_tensorflow_the_steps_are_traced_once_and_a_strength_set_on_start_counts():
    keras.utils.set_random_seed(0)
    x, y = _regression()
    penalty = StructuredSparsity(0.01)
    model = _model(0.0, kernel_regularizer=penalty, activity_regularizer="l1")  # SGD(0): fixed
    traces = _count_traces(model)
    warmup = PenaltyWarmup(max_epochs=1, on_start=lambda m: setattr(penalty, "strength", 0.03))
    history = model.fit(
        x, y, batch_size=32, epochs=2, verbose=0, callbacks=[warmup], validation_data=(x, y)
    )
    assert traces == {"train": 1, "test": 1}
    layer = model.get_layer("dense")
    assert layer.kernel.regularizer is penalty and isinstance(
        layer.activity_regularizer, keras.regularizers.L1
    )
    activity = 0.01 * np.abs(keras.ops.convert_to_numpy(model(x))).sum() / len(x)
    expected = float(penalty(layer.kernel)) + activity  # the strength set on start, 0.03
    held, started = _penalty_per_epoch(history)
    assert held == pytest.approx(0.0, abs=1e-6)
    assert started == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"min_drop": 0.0}, ValueError, "min_drop"),
        ({"min_drop": 1.0}, ValueError, "min_drop"),
        ({"max_epochs": -1}, ValueError, "max_epochs"),
        ({"max_epochs": 1.5}, TypeError, "max_epochs"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        PenaltyWarmup(**kwargs)


def test_grow_regularizers_rejects_what_is_not_a_warmup():
    with pytest.raises(TypeError, match="warmup"):
        GrowRegularizers("warmup")


def _trial_logs(hypermodel, x, y, tmp_path, epochs=3):
    logged = []
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss"),
        max_trials=1,
        directory=tmp_path,
        project_name="warmup",
    )
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logged.append(logs))
    tuner.search(x, y, validation_data=(x, y), epochs=epochs, callbacks=[record], verbose=0)
    return logged


def test_trials_from_fresh_weights_warm_up_and_calibrate_when_the_penalties_start(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _regression()
    space = regsearch.SearchSpace(
        "dense", kernel=["structured_sparsity"], strength=(0.1, 0.1001), relative_strength=True
    )
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="dense")])
    hypermodel = regsearch.RegSearchHyperModel(
        model, space, compile={"optimizer": keras.optimizers.SGD(0.1), "loss": "mse"}
    )
    assert hypermodel.warms_up
    logs = _trial_logs(hypermodel, x, y, tmp_path, epochs=5)
    penalty = [entry["loss"] - entry["data_loss"] for entry in logs]
    start = next(epoch for epoch, value in enumerate(penalty) if value > 1e-6)
    assert start >= 1 and penalty[:start] == pytest.approx([0.0] * start, abs=1e-6)
    # Calibrated when it started: 0.1 x the data loss of the model trained so far
    # (its validation loss then), not 0.1 x the loss of the initial weights.
    assert penalty[start] == pytest.approx(0.1 * logs[start - 1]["val_data_loss"], rel=0.3)
    assert penalty[start] < 0.05 * logs[0]["data_loss"]


def test_trials_from_trained_weights_are_penalized_from_the_first_epoch(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _regression()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="dense")])
    space = regsearch.SearchSpace("dense", kernel=["l2"], strength=(0.01, 0.0101))
    compile = {"optimizer": keras.optimizers.SGD(0.05), "loss": "mse"}
    trained = regsearch.RegSearchHyperModel(model, space, compile=compile, initial_weights="model")
    assert not trained.warms_up
    logs = _trial_logs(trained, x, y, tmp_path, epochs=1)
    assert logs[0]["loss"] - logs[0]["data_loss"] > 1e-4
    forced = regsearch.RegSearchHyperModel(model, space, compile=compile, penalty_warmup=False)
    assert not forced.warms_up
    with pytest.raises(TypeError, match="penalty_warmup"):
        regsearch.RegSearchHyperModel(model, space, compile=compile, penalty_warmup="yes")


@pytest.mark.skipif(
    not PenaltySwitch.available(), reason="other backends trace the steps again on start"
)
def test_a_fresh_trial_traces_its_steps_once_through_warmup_calibration_and_fine_tune(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _regression()
    space = regsearch.SearchSpace(
        "dense", kernel=["structured_sparsity"], strength=(0.1, 0.1001), relative_strength=True
    )

    class Counted(regsearch.RegSearchHyperModel):
        def build(self, hp):
            model = super().build(hp)
            self.traces = _count_traces(model)
            return model

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="dense")])
    compile = {"optimizer": keras.optimizers.SGD(0.1), "loss": "mse"}
    hypermodel = Counted(model, space, compile=compile, finetune_epochs=1)
    logs = _trial_logs(hypermodel, x, y, tmp_path, epochs=3)
    assert hypermodel.traces == {"train": 1, "test": 1}
    assert logs[-1]["loss"] == pytest.approx(logs[-1]["data_loss"], rel=1e-5)  # fine-tuned
