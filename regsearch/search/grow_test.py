import keras
import keras_tuner
import numpy as np
import pytest

import regsearch
from regsearch.regularizers import Growing, StructuredSparsity
from regsearch.search import ExactZeros, GrowRegularizers
from regsearch.search._grow import growing_regularizers


def _frozen_dense(penalty):
    """A Dense layer of ones that SGD(0) never moves: the loss is the penalty alone."""
    model = keras.Sequential(
        [
            keras.Input((2,)),
            keras.layers.Dense(
                1, use_bias=False, kernel_initializer="ones", kernel_regularizer=penalty
            ),
        ]
    )
    model.compile(keras.optimizers.SGD(0.0), "mse")
    return model, np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32")


def test_the_penalty_in_the_loss_grows_epoch_by_epoch():
    # On JAX the compiled step holds the multiplier as a constant: without the
    # rebuild GrowRegularizers does, every epoch would report the first value.
    penalty = Growing(keras.regularizers.L2(1.0), start=0.25, growth=2.0)
    model, x, y = _frozen_dense(penalty)  # L2 of a kernel of two ones: 2
    history = model.fit(
        x, y, validation_data=(x, y), epochs=4, verbose=0, callbacks=[GrowRegularizers()]
    )
    np.testing.assert_allclose(history.history["loss"], [0.5, 1.0, 2.0, 2.0], rtol=1e-6)
    np.testing.assert_allclose(history.history["val_loss"], [0.5, 1.0, 2.0, 2.0], rtol=1e-6)


def test_a_resumed_fit_picks_the_schedule_up_and_a_new_one_starts_it_over():
    penalty = Growing(keras.regularizers.L2(1.0), start=0.25, growth=2.0, schedule="multiplicative")
    model, x, y = _frozen_dense(penalty)
    resumed = model.fit(x, y, initial_epoch=1, epochs=3, verbose=0, callbacks=[GrowRegularizers()])
    np.testing.assert_allclose(resumed.history["loss"], [1.0, 2.0], rtol=1e-6)
    again = model.fit(x, y, epochs=2, verbose=0, callbacks=[GrowRegularizers()])
    np.testing.assert_allclose(again.history["loss"], [0.5, 1.0], rtol=1e-6)


def test_growing_regularizers_finds_weights_activities_and_cross_layers():
    kernel, activity, cross = Growing("l2"), Growing("l1"), Growing("group_lasso")
    inputs = keras.Input((4,))
    a = keras.layers.Dense(3, kernel_regularizer=kernel, activity_regularizer=activity, name="a")
    b = keras.layers.Dense(3, name="b")
    hidden = a(inputs)
    model = keras.Model(inputs, keras.layers.Add()([hidden, b(hidden)]))
    crossed = regsearch.CrossLayer(["a", "b"], cross, flatten=True)
    model = regsearch.apply(model, cross_layer=[crossed])
    found = growing_regularizers(model)
    assert len(found) == 3
    assert {type(p.regularizer).__name__ for p in found} == {"L2", "L1", "GroupLasso"}
    assert growing_regularizers(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])) == []


def _hypermodel(schedule):
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, name="out"),
        ]
    )
    space = regsearch.SearchSpace(
        "conv", kernel=["structured_sparsity"], schedule=schedule, growth=(2.0, 4.0)
    )
    compile = {"optimizer": "sgd", "loss": "mse"}
    return regsearch.RegSearchHyperModel(
        model, space, compile=compile, finetune_epochs=1, penalty_warmup=False
    )


def test_the_hypermodel_grows_the_penalties_of_a_growing_trial():
    hypermodel = _hypermodel(["growing"])
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert hp.values["schedule"] == "growing" and hp.values["growth"] == 2.0
    penalty = model.get_layer("conv").kernel.regularizer
    assert isinstance(penalty, Growing) and penalty.growth == 2.0
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32")
    y = np.zeros((16, 2), "float32")
    hypermodel.fit(hp, model, x, y, validation_data=(x, y), epochs=3, verbose=0)
    assert penalty.current() == pytest.approx(0.4)  # before the third epoch: 0.1 * 2 ** 2


def test_only_a_model_with_growing_penalties_gets_the_callback():
    for schedule, expected in ((["growing"], True), (["constant"], False)):
        hypermodel = _hypermodel(schedule)
        model = hypermodel.build(keras_tuner.HyperParameters())
        own = hypermodel._own_callbacks(model, regsearch.Objective("loss"), penalized=True)
        assert any(isinstance(c, GrowRegularizers) for c in own) is expected
        assert any(isinstance(c, ExactZeros) for c in own)


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    return x[:512], digits.target[:512].astype("int32")


def _fit_conv(penalty, epochs):
    keras.utils.set_random_seed(0)
    x, y = _digits()
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, activation="relu", kernel_regularizer=penalty, name="conv"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, name="out"),
        ]
    )
    # The last quarter at a tenth of the rate lets emptied filters settle under
    # ExactZeros' threshold (Adam's steps do not shrink with the gradient).
    steps = -(-len(x) // 32)
    rate = keras.optimizers.schedules.PiecewiseConstantDecay(
        [steps * epochs * 3 // 4], [0.01, 0.001]
    )
    model.compile(
        keras.optimizers.Adam(rate),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    callbacks = [GrowRegularizers(), ExactZeros(1e-3)]
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=callbacks)
    kernel = keras.ops.convert_to_numpy(model.get_layer("conv").kernel)
    empty = int(np.sum(~kernel.reshape(-1, kernel.shape[-1]).any(axis=0)))
    return empty, float(history.history["accuracy"][-1])


@pytest.mark.slow
def test_a_growing_penalty_empties_filters_the_constant_one_at_its_start_does_not():
    def filters_only(strength):
        return StructuredSparsity(strength, channels=0.0, shape=0.0)

    growing, accuracy = _fit_conv(Growing(filters_only(0.05), start=0.1, growth=2.0), epochs=10)
    constant, _ = _fit_conv(filters_only(0.005), epochs=10)
    assert growing >= constant + 3, (growing, constant)
    assert growing < 16
    assert accuracy > 0.95
