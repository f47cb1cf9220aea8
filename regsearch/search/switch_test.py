import keras
import numpy as np
import pytest

import regsearch
from regsearch.regularizers import StructuredSparsity
from regsearch.search._exact_zeros import penalty_groups
from regsearch.search._switch import PenaltySwitch

pytestmark = pytest.mark.skipif(
    not PenaltySwitch.available(),
    reason="only TensorFlow's compiled steps read a variable at every call",
)


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16, 1)).astype("float32")
    return x, (x[:, 6:9, 0].sum(axis=1, keepdims=True) * 0.3).astype("float32")


def _regularized():
    inputs = keras.Input((16, 1))
    x = keras.layers.Conv1D(6, 7, activation="relu", name="conv1")(inputs)
    x = keras.layers.Flatten()(keras.layers.Conv1D(4, 3, name="conv2")(x))
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(x))
    model = regsearch.apply(
        model,
        kernel={"conv*": StructuredSparsity(0.05)},
        # and a penalty over several kernels (the coupled group norm shrink puts on a stream)
        cross_layer=[regsearch.CrossLayer("conv2", "group_lasso", flatten=True)],
    )
    model.compile(keras.optimizers.Adam(1e-2), "mse", metrics=[regsearch.search.DataLoss("mse")])
    return model


def test_turning_the_switch_off_stops_the_penalties_without_a_new_train_step():
    keras.utils.set_random_seed(0)
    x, y = _data()
    model = _regularized()
    switch = PenaltySwitch(model)
    fit = {"batch_size": 64, "verbose": 0, "validation_data": (x, y)}
    logs = model.fit(x, y, epochs=1, **fit).history
    assert logs["loss"][0] > 1.05 * logs["data_loss"][0]  # the penalty is paid
    train_step, test_step = model.train_function, model.test_function
    assert switch.turn_off() == 3
    logs = model.fit(x, y, epochs=1, **fit).history
    np.testing.assert_allclose(logs["loss"][0], logs["data_loss"][0], rtol=1e-4)
    np.testing.assert_allclose(logs["val_loss"][0], logs["val_data_loss"][0], rtol=1e-4)
    assert model.train_function is train_step and model.test_function is test_step


def test_restore_puts_the_penalties_back_and_exact_zeros_sees_through_the_switch():
    model = _regularized()
    kernel = model.get_layer("conv1").kernel
    penalty = kernel.regularizer
    switch = PenaltySwitch(model)
    assert kernel.regularizer is not penalty
    shape = tuple(kernel.shape)
    assert penalty_groups(kernel.regularizer, shape) == penalty_groups(penalty, shape) != []
    switch.restore()
    assert kernel.regularizer is penalty
