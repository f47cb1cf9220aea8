import keras
import numpy as np
import pytest

import regsearch
from regsearch.search import ScoreCallback


def _xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")


def test_score_and_parts_are_in_the_epoch_logs_and_weights_are_snapped():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="hidden"), keras.layers.Dense(1)]
    )
    model.compile(optimizer="sgd", loss="mse", metrics=[regsearch.search.DataLoss("mse")])
    objective = regsearch.Objective("val_loss", size_weight=0.5)
    history = model.fit(
        *_xy(),
        validation_split=0.25,
        epochs=2,
        verbose=0,
        callbacks=[ScoreCallback(objective, trim_threshold=0.2)],
    )
    logs = {k: v[-1] for k, v in history.history.items()}
    assert {"score", "trimmed_params", "trimmed_macs", "size_ratio"} <= set(logs)
    assert logs["score"] == pytest.approx(logs["val_data_loss"] + 0.5 * logs["size_ratio"])
    kernel = model.get_layer("hidden").kernel.numpy()
    # weights that count as zero were set to exactly zero before validation
    assert not np.any((np.abs(kernel) > 0) & (np.abs(kernel) <= 0.2))
    assert logs["trimmed_params"] == regsearch.trimmed_size(model, 0.2).params


def test_a_layer_whose_every_unit_dies_gets_no_size_credit_instead_of_failing():
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, name="hidden", kernel_constraint=lambda w: w * 0.0),
            keras.layers.Dense(1, name="out"),
        ]
    )
    model.compile(optimizer="sgd", loss="mse", metrics=[regsearch.search.DataLoss("mse")])
    history = model.fit(
        *_xy(),
        validation_split=0.25,
        epochs=1,
        verbose=0,
        callbacks=[ScoreCallback(regsearch.Objective(size_weight=1.0))],
    )
    assert history.history["size_ratio"] == [1.0]
    assert history.history["trimmed_params"] == [model.count_params()]


def test_a_trial_that_collapses_in_its_first_epoch_logs_its_own_untrimmed_size():
    # a trial of a narrowed trained model: its size ratio divides by the model it came from
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, name="hidden", kernel_constraint=lambda w: w * 0.0),
            keras.layers.Dense(1, name="out"),
        ]
    )
    own = regsearch.trimmed_size(model, 1e-3)
    model.compile(optimizer="sgd", loss="mse", metrics=[regsearch.search.DataLoss("mse")])
    callback = ScoreCallback(regsearch.Objective(size_weight=1.0), reference=(1000, 5000))
    history = model.fit(*_xy(), validation_split=0.25, epochs=1, verbose=0, callbacks=[callback])
    assert history.history["untrimmed_macs"] == [own.macs_before] != [5000]
    assert history.history["untrimmed_params"] == [own.params_before]
    assert history.history["trimmed_macs"] == [5000]  # no size credit for a collapse


ON_TENSORFLOW = keras.backend.backend() == "tensorflow"


@pytest.mark.skipif(not ON_TENSORFLOW, reason="LiteRT conversion needs the TensorFlow backend")
def test_file_bytes_are_measured_on_the_trimmed_model_once_per_architecture():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(64, name="hidden"), keras.layers.Dense(1)]
    )
    kernel = model.get_layer("hidden").kernel
    kernel.assign(keras.ops.concatenate([kernel[:, :16], keras.ops.zeros((4, 48))], axis=1))
    model.compile(optimizer="sgd", loss="mse", metrics=[regsearch.search.DataLoss("mse")])
    callback = ScoreCallback(regsearch.Objective("val_loss", size="file_bytes", size_weight=1.0))
    # lr 0: the zeros stay, so every epoch has the same trimmed architecture
    model.optimizer.learning_rate = 0.0
    history = model.fit(*_xy(), validation_split=0.25, epochs=3, verbose=0, callbacks=[callback])
    trimmed, _ = regsearch.trim(model, 1e-3)
    expected = regsearch.deployment_cost(trimmed, repeats=1).file_bytes
    base = regsearch.deployment_cost(model, repeats=1).file_bytes
    assert history.history["file_bytes"] == [expected] * 3
    assert history.history["size_ratio"] == pytest.approx([expected / base] * 3)
    assert all(latency > 0 for latency in history.history["latency_ms"])
    assert len(callback._costs) == 1  # one conversion for the three epochs


@pytest.mark.skipif(not ON_TENSORFLOW, reason="LiteRT conversion needs the TensorFlow backend")
def test_unmeasured_epochs_log_the_reference_cost_at_ratio_one():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=[regsearch.search.DataLoss("mse")])
    reference = regsearch.deployment_cost(model, repeats=3)
    callback = ScoreCallback(
        regsearch.Objective("val_loss", size="latency", size_weight=1.0),
        deployment_reference=reference,
        measure_deployment=False,
    )
    history = model.fit(*_xy(), validation_split=0.25, epochs=1, verbose=0, callbacks=[callback])
    assert history.history["latency_ms"] == [reference.latency_ms]
    assert history.history["file_bytes"] == [reference.file_bytes]
    assert history.history["size_ratio"] == [1.0]
