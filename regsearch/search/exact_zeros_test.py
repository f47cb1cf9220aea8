import keras
import numpy as np
import pytest

from regsearch.regularizers import GroupLasso, Growing, StructuredSparsity
from regsearch.search import ExactZeros


def _fit(optimizer, *, exact_zeros):
    """Hidden units 4..7 feed a head weight fixed at 0: only the penalty moves them."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = x[:, :2] @ np.array([[1.0], [-1.0]], "float32")
    hidden = keras.layers.Dense(8, kernel_regularizer=StructuredSparsity(0.01, channels=0.0))
    head = keras.layers.Dense(1, trainable=False)
    model = keras.Sequential([keras.Input((8,)), hidden, head])
    head.set_weights([np.array([[1.0]] * 4 + [[0.0]] * 4, "float32"), np.zeros(1, "float32")])
    model.compile(optimizer, "mse")
    callbacks = [ExactZeros(1e-3)] if exact_zeros else []
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=callbacks)
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in hidden.weights)
    return int(np.sum(~kernel.any(axis=0))), kernel, bias


@pytest.mark.slow
def test_adam_empties_as_many_filters_exactly_as_sgd():
    sgd, _, _ = _fit(keras.optimizers.SGD(0.1, momentum=0.9), exact_zeros=True)
    adam, kernel, bias = _fit(keras.optimizers.Adam(1e-2), exact_zeros=True)
    adam_alone, smooth, _ = _fit(keras.optimizers.Adam(1e-2), exact_zeros=False)
    assert sgd == 4
    assert adam == sgd
    np.testing.assert_array_equal(bias[4:], 0.0)  # emptied filters output exactly 0
    assert np.all(kernel[:, :4] != 0)  # the useful filters are untouched
    # Without the callback Adam leaves the emptied filters jittering near, not at, 0.
    assert adam_alone == 0
    assert np.abs(smooth[:, 4:]).max() < 0.05


def test_group_lasso_filters_and_relative_threshold():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(3, kernel_regularizer=GroupLasso(0.1))]
    )
    kernel = np.array([[10.0, 0.004, 1.0], [10.0, 0.004, 1.0], [10.0, 0.004, 1.0]], "float32")
    model.layers[0].set_weights([kernel, np.ones(3, "float32")])
    callback = ExactZeros(1e-3, relative=True)  # limit: 1e-3 x 10 = 0.01
    callback.set_model(model)
    callback.on_train_batch_end(0)
    after, bias = model.layers[0].get_weights()
    np.testing.assert_array_equal(after[:, 1], 0.0)
    np.testing.assert_array_equal(bias, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(after[:, [0, 2]], kernel[:, [0, 2]])


def test_weights_without_a_group_penalty_are_left_alone():
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L1(0.1))]
    )
    model.layers[0].set_weights([np.full((3, 2), 1e-6, "float32"), np.ones(2, "float32")])
    callback = ExactZeros(1e-3)
    callback.set_model(model)
    callback.on_train_batch_end(0)
    np.testing.assert_array_equal(model.layers[0].get_weights()[0], np.float32(1e-6))


@pytest.mark.parametrize("threshold", [-1.0, float("nan")])
def test_bad_threshold(threshold):
    with pytest.raises(ValueError, match="`threshold`"):
        ExactZeros(threshold)


def test_scale_penalties_snap_batch_norm_scales_and_fine_tuning_holds_them():
    from regsearch.regularizers import Polarization, Slimming
    from regsearch.search import HoldZeros

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    y = x[:, :1]
    for penalty in (Slimming(0.01), Polarization(0.01)):
        norm = keras.layers.BatchNormalization(gamma_regularizer=penalty)
        model = keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(4), norm, keras.layers.Dense(1)]
        )
        model.compile(keras.optimizers.SGD(1e-4), "mse")  # a step moves gamma by ~1e-4
        gamma = np.array([1.0, 1e-6, 1.0, 1.0], "float32")
        norm.gamma.assign(gamma)
        model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[ExactZeros(1e-2)])
        trained = keras.ops.convert_to_numpy(norm.gamma)
        assert trained[1] == 0.0 and np.all(trained[[0, 2, 3]] != 0)
        norm.gamma.regularizer = None
        hold = HoldZeros.from_model(model)
        model.compile(keras.optimizers.SGD(0.5), "mse")
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[hold])
        assert keras.ops.convert_to_numpy(norm.gamma)[1] == 0.0


def test_a_growing_penalty_is_seen_through():
    penalty = Growing(GroupLasso(0.1), start=0.1, growth=2.0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_regularizer=penalty)])
    kernel = np.array([[1.0, 1e-4], [1.0, 1e-4], [1.0, 1e-4]], "float32")
    model.layers[0].set_weights([kernel, np.ones(2, "float32")])
    callback = ExactZeros(1e-3)
    callback.set_model(model)
    callback.on_train_batch_end(0)
    after, bias = model.layers[0].get_weights()
    np.testing.assert_array_equal(after[:, 1], 0.0)
    np.testing.assert_array_equal(bias, [1.0, 0.0])
