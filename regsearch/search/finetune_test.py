import keras
import keras_tuner
import numpy as np
import pytest

import regsearch
from regsearch.regularizers import StructuredSparsity
from regsearch.search import HoldZeros
from regsearch.search._finetune import remove_weight_penalties, scale_learning_rate


def _data(n=512, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16, 1)).astype("float32")
    y = (x[:, 6:9, 0].sum(axis=1, keepdims=True) * 0.3).astype("float32")
    return x, y


def _model():
    inputs = keras.Input((16, 1))
    x = keras.layers.Conv1D(6, 7, activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv1D(4, 3, name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(1, name="head")(x)
    return keras.Model(inputs, outputs)


def _regularized(strength=0.05):
    model = regsearch.apply(
        _model(),
        kernel={"conv*": StructuredSparsity(strength)},
        # and a penalty over several kernels (the coupled group norm shrink puts on a stream)
        cross_layer=[regsearch.CrossLayer("conv2", "group_lasso", flatten=True)],
    )
    model.compile(keras.optimizers.Adam(1e-2), "mse", metrics=[regsearch.search.DataLoss("mse")])
    return model


@pytest.mark.slow
def test_removing_the_penalties_takes_them_out_of_the_trained_loss():
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = _regularized()
    fit = {"batch_size": 64, "verbose": 0, "validation_data": (x, y)}
    logs = model.fit(x, y, epochs=1, **fit).history
    assert logs["loss"][0] > 1.05 * logs["data_loss"][0]  # the penalty is paid
    assert logs["val_loss"][0] > 1.05 * logs["val_data_loss"][0]
    assert remove_weight_penalties(model) == 3
    logs = model.fit(x, y, epochs=1, **fit).history
    np.testing.assert_allclose(logs["loss"][0], logs["data_loss"][0], rtol=1e-4)
    # the validation loss (a common objective) is the data loss too
    np.testing.assert_allclose(logs["val_loss"][0], logs["val_data_loss"][0], rtol=1e-4)


@pytest.mark.slow
def test_hold_zeros_keeps_exact_zeros_under_adam():
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = _regularized(0.0)
    for layer in (model.get_layer(n) for n in ("conv1", "conv2", "head")):
        layer.bias.assign(np.full(layer.bias.shape, 0.1, "float32"))
    model.get_layer("conv1").bias.assign(np.array([0.1, 0, 0.1, 0.1, 0.1, 0.1], "float32"))
    kernel = model.get_layer("conv2").kernel
    value = keras.ops.convert_to_numpy(kernel).copy()
    value[:, :, 1] = 0.0  # a dead filter
    value[0] = 0.0  # a dead first tap
    kernel.assign(value)
    hold = HoldZeros.from_model(model)
    bias = model.get_layer("conv1").bias
    assert [v.path for v, _ in hold.masks] == [bias.path, kernel.path]
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[hold])
    after = keras.ops.convert_to_numpy(kernel)
    np.testing.assert_array_equal(after[value == 0], 0.0)
    assert np.count_nonzero(after[value != 0]) == np.count_nonzero(value)
    assert float(bias[1]) == 0.0 and np.all(keras.ops.convert_to_numpy(bias)[[0, 2]] != 0.1)


@pytest.mark.parametrize("value", [-1, 1.5, "2", True, None])
def test_bad_finetune_epochs(value):
    with pytest.raises(ValueError, match="`finetune_epochs`"):
        regsearch.RegSearchHyperModel(
            _model(), compile={"optimizer": "adam", "loss": "mse"}, finetune_epochs=value
        )


@pytest.mark.parametrize("value", [0.0, -0.1, float("nan")])
def test_bad_finetune_learning_rate(value):
    with pytest.raises(ValueError, match="`finetune_learning_rate`"):
        regsearch.RegSearchHyperModel(
            _model(), compile={"optimizer": "adam", "loss": "mse"}, finetune_learning_rate=value
        )


def test_fine_tuning_scales_a_settable_learning_rate_only():
    adam = keras.optimizers.Adam(1e-2)
    scale_learning_rate(adam, 0.1)
    assert float(adam.learning_rate) == pytest.approx(1e-3)
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.5)
    scheduled = keras.optimizers.SGD(schedule)
    scale_learning_rate(scheduled, 0.1)
    assert float(scheduled.learning_rate) == pytest.approx(1e-2)


@pytest.mark.slow
def test_a_search_reports_and_returns_the_fine_tuned_model(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _data()
    hypermodel = regsearch.RegSearchHyperModel(
        _model(),
        regsearch.SearchSpace(kernel=["structured_sparsity"], strength=(0.02, 0.025)),
        compile={"optimizer": keras.optimizers.Adam(1e-2), "loss": "mse"},
        trim_threshold=1e-2,
        finetune_epochs=1,
        finetune_learning_rate=0.5,
        penalty_warmup=False,  # two epochs: penalized from the first, so that it prunes
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss", size_weight=0.1),
        max_trials=2,
        directory=tmp_path,
        seed=0,
    )
    tuner.search(x, y, validation_split=0.25, epochs=2, batch_size=16, verbose=0)
    trials = [t for t in tuner.oracle.trials.values() if t.status == "COMPLETED"]
    assert len(trials) == 2
    for trial in trials:
        # The fine-tune epoch is the one keras-tuner recorded, and it paid no penalty.
        (observation,) = trial.metrics.get_history("score")
        assert observation.step == 0
        loss, data_loss = (trial.metrics.get_last_value(k) for k in ("loss", "data_loss"))
        np.testing.assert_allclose(loss, data_loss, rtol=1e-4)
    best = tuner.oracle.get_best_trials(1)[0]
    logged = best.metrics.get_last_value("trimmed_params")
    loaded = regsearch.best_model(tuner, trimmed=False)
    kernel = keras.ops.convert_to_numpy(loaded.get_layer("conv2").kernel)
    assert np.count_nonzero(kernel == 0) > 0  # the held zeros were checkpointed
    small = regsearch.best_model(tuner)
    assert small.count_params() == logged < _model().count_params()
    np.testing.assert_allclose(
        small.predict(x[:8], verbose=0), loaded.predict(x[:8], verbose=0), atol=1e-5
    )
