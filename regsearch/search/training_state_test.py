import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

import regsearch
from regsearch.search._training_state import build_training_state

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the other backends build the training state before tracing on their own",
)


@keras.saving.register_keras_serializable(package="regsearch_tests")
class CountsTrainTraces(keras.layers.Layer):
    """Identity; counts the train steps that trace it (Python runs only while tracing)."""

    traces = 0

    def call(self, x, training=None):
        if training and not tf.executing_eagerly():
            CountsTrainTraces.traces += 1
        return x


def _model():
    inputs = keras.Input((8, 1))
    x = keras.layers.Conv1D(4, 3, activation="relu", name="conv")(inputs)
    x = CountsTrainTraces()(keras.layers.Flatten()(x))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    model.compile(
        keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8, 1)).astype("float32")
    return x, (x[:, :4, 0].sum(axis=1) > 0).astype("int32")


def test_a_trial_traces_its_train_step_once_for_both_phases(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _data()
    hypermodel = regsearch.RegSearchHyperModel(
        _model(), regsearch.SearchSpace.for_size("conv"), initial_weights="model",
        finetune_epochs=1,
    )  # fmt: skip
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective=regsearch.Objective("val_accuracy"), max_trials=2,
        directory=str(tmp_path), seed=0,
    )  # fmt: skip
    CountsTrainTraces.traces = 0
    tuner.search(x, y, validation_data=(x, y), epochs=2, batch_size=16, verbose=0)
    # penalized epochs and fine-tune share one traced step per trial (Keras alone: two)
    assert CountsTrainTraces.traces == 2
    assert len(regsearch.results(tuner)) == 2


def test_building_the_state_leaves_training_as_it_was():
    x, y = _data()
    keras.utils.set_random_seed(0)
    plain = _model()
    weights = plain.get_weights()
    expected = plain.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False).history
    built = _model()
    built.set_weights(weights)
    CountsTrainTraces.traces = 0
    build_training_state(built, x, y)
    logs = built.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False).history
    assert CountsTrainTraces.traces == 1 and built.optimizer.built
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose(logs[name], expected[name], rtol=1e-5)


def test_a_generator_is_not_read():
    model = _model()
    x, y = _data()
    batches = iter([(x[:16], y[:16])])
    build_training_state(model, batches, None)
    assert next(batches)[0].shape == (16, 8, 1)  # still there for fit
    assert not model.optimizer.built


@pytest.mark.parametrize("initial_weights", [None, "model"])
def test_keras_tuners_distribution_strategy_trains_the_trials(tmp_path, initial_weights):
    # keras-tuner builds each model in the strategy's scope but fits it outside it.
    keras.utils.set_random_seed(0)
    x, y = _data()
    hypermodel = regsearch.RegSearchHyperModel(
        _model(), regsearch.SearchSpace.for_size("conv", relative_strength=True),
        initial_weights=initial_weights, finetune_epochs=1,
    )  # fmt: skip
    tuner = regsearch.ParetoSearch(
        hypermodel, objective=regsearch.Objective("val_accuracy", size="params"),
        max_trials=2, directory=str(tmp_path), seed=0,
        distribution_strategy=tf.distribute.MirroredStrategy(["cpu:0"]),
    )  # fmt: skip
    tuner.search(x, y, validation_data=(x, y), epochs=3, batch_size=16, verbose=0)
    table = regsearch.results(tuner)
    assert list(table["status"]) == ["COMPLETED", "COMPLETED"]
    assert table["val_accuracy"].notna().all() and (table["trimmed_params"] > 0).all()
