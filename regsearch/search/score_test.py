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
