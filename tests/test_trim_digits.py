"""End to end: a CNN on scikit-learn's digits, trained with GroupLasso + KernelLength,
trims to fewer parameters with the same test accuracy (within 0.5 points)."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import regsearch
from regsearch.regularizers import GroupLasso, KernelLength

L = keras.layers


def _accuracy(model, x, y):
    return float(np.mean(np.argmax(keras.ops.convert_to_numpy(model(x)), axis=-1) == y))


@pytest.mark.slow
def test_trained_digits_cnn_trims_to_fewer_params_with_the_same_accuracy():
    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    x_train, x_test, y_train, y_test = train_test_split(
        x, digits.target, test_size=0.25, random_state=0, stratify=digits.target
    )
    shorter = KernelLength(1e-3, window="poly", poly_exp=2, threshold=1e-3)
    fewer = GroupLasso(1e-3)

    def shorter_and_fewer(w):
        return shorter(w) + fewer(w)

    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            L.Conv2D(
                16,
                5,
                padding="same",
                activation="relu",
                name="conv1",
                kernel_regularizer=shorter_and_fewer,
            ),
            L.Conv2D(
                16, 3, padding="same", activation="relu", name="conv2", kernel_regularizer=fewer
            ),
            L.GlobalAveragePooling2D(),
            L.Dense(10, name="out"),
        ]
    )
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x_train, y_train, epochs=25, batch_size=64, verbose=0)

    # Adam leaves group-lasso'd filters around 1e-3, not at exactly 0: trim at 1e-2.
    trimmed, report = regsearch.trim(model, 1e-2, sample=x_test)
    assert trimmed.count_params() == report.params_after < model.count_params()
    assert report.layers[1].filters_after < report.layers[1].filters_before
    before, after = _accuracy(model, x_test, y_test), _accuracy(trimmed, x_test, y_test)
    assert before > 0.8
    assert abs(after - before) <= 0.005
