import json
import os
import signal
import subprocess
import sys

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


def _search_under_a_strategy(directory: str) -> None:
    """Prints each trial's status, validation accuracy and trimmed size, as JSON."""
    # keras-tuner builds each model in the strategy's scope but fits it outside it.
    x, y = _data()
    rows = {}
    for initial_weights in (None, "model"):
        keras.utils.set_random_seed(0)
        hypermodel = regsearch.RegSearchHyperModel(
            _model(), regsearch.SearchSpace.for_size("conv", relative_strength=True),
            initial_weights=initial_weights, finetune_epochs=1,
        )  # fmt: skip
        tuner = regsearch.ParetoSearch(
            hypermodel, objective=regsearch.Objective("val_accuracy", size="params"),
            max_trials=2, directory=directory, project_name=str(initial_weights), seed=0,
            distribution_strategy=tf.distribute.MirroredStrategy(["cpu:0"]),
        )  # fmt: skip
        tuner.search(x, y, validation_data=(x, y), epochs=3, batch_size=16, verbose=0)
        table = regsearch.results(tuner)
        rows[str(initial_weights)] = table[["status", "val_accuracy", "trimmed_params"]].to_dict(
            "list"
        )
    print(json.dumps(rows))


def test_keras_tuners_distribution_strategy_trains_the_trials(tmp_path):
    # In a fresh process: a strategy sets up TensorFlow's devices and threads for the
    # whole process, and one worker of the suite crashed in it after hundreds of tests.
    # TensorFlow itself sometimes segfaults when a MirroredStrategy on CPU creates a
    # dataset iterator (Keras's EpochIterator.reset) on a loaded machine; plain keras-tuner
    # crashes the same way. Such a crash is run again, in a new directory; a Python error
    # is not.
    for attempt in range(4):
        code = (
            "from regsearch.search.training_state_test import _search_under_a_strategy; "
            f"_search_under_a_strategy({str(tmp_path / str(attempt))!r})"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
            env={**os.environ, "KERAS_BACKEND": "tensorflow"},
        )  # fmt: skip
        if done.returncode != -signal.SIGSEGV:
            break
    assert done.returncode == 0, done.stderr[-4000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    for initial_weights in ("None", "model"):
        table = rows[initial_weights]
        assert table["status"] == ["COMPLETED", "COMPLETED"], initial_weights
        assert all(np.isfinite(table["val_accuracy"])), initial_weights
        assert all(size > 0 for size in table["trimmed_params"]), initial_weights
