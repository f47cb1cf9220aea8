import keras
import numpy as np
import pytest

from regsearch.regularizers import GroupLasso, get
from tests._autodiff import gradient


def test_hand_computed_dense_kernel():
    kernel = np.array([[3.0, 0.0, 1.0], [4.0, 0.0, -1.0]], "float32")
    np.testing.assert_allclose(float(GroupLasso(0.1)(kernel)), 0.1 * (5.0 + 0.0 + 2**0.5))


def test_conv_kernel_groups_whole_filters():
    kernel = np.zeros((3, 3, 2, 4), "float32")
    kernel[..., 1] = 1.0  # 18 ones: norm sqrt(18)
    kernel[0, 0, 0, 3] = -2.0
    np.testing.assert_allclose(float(GroupLasso(1.0)(kernel)), 18**0.5 + 2.0, rtol=1e-6)


def test_gradient_finite_for_zero_filters():
    grad = gradient(GroupLasso(1.0), [[0.0, 3.0], [0.0, 4.0]])
    np.testing.assert_allclose(grad, [[0.0, 0.6], [0.0, 0.8]], rtol=1e-6)


@pytest.mark.parametrize("strength", [-1.0, float("nan"), float("inf")])
def test_bad_strength(strength):
    with pytest.raises(ValueError, match="`strength`"):
        GroupLasso(strength)


def test_keras_round_trip(keras_round_trip):
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, kernel_regularizer=GroupLasso(0.01)),
            keras.layers.Flatten(),
            keras.layers.Dense(2, kernel_regularizer=get("group_lasso")),
        ]
    )
    keras_round_trip(model, np.ones((2, 8, 8, 1), "float32"))
