import keras
import numpy as np
import pytest

from regsearch.regularizers import Orthogonal
from tests._autodiff import gradient


def test_orthogonal_filters_cost_zero_identical_cost_strength():
    assert float(Orthogonal(0.3)(np.eye(4, dtype="float32"))) == pytest.approx(0.0, abs=1e-7)
    assert float(Orthogonal(0.3)(np.ones((2, 2, 3, 5), "float32"))) == pytest.approx(0.3)


def test_hand_computed_mean_abs_cosine():
    # Columns (1, 0), (1, 1), (0, -1): |cos| = 1/sqrt2, 0, 1/sqrt2 -> mean sqrt2 / 3.
    kernel = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, -1.0]], "float32")
    np.testing.assert_allclose(float(Orthogonal(1.0)(kernel)), 2**0.5 / 3, rtol=1e-5)


def test_any_rank_is_reshaped_to_filters():
    kernel = np.random.default_rng(0).normal(size=(3, 3, 2, 4)).astype("float32")
    flat = kernel.reshape(-1, 4)
    np.testing.assert_allclose(
        float(Orthogonal(0.5)(kernel)), float(Orthogonal(0.5)(flat)), rtol=1e-6
    )
    unit = flat / np.linalg.norm(flat, axis=0)
    cos = np.abs(unit.T @ unit)[np.triu_indices(4, 1)]
    np.testing.assert_allclose(float(Orthogonal(0.5)(kernel)), 0.5 * cos.mean(), rtol=1e-5)


def test_single_filter_and_zero_filter():
    assert float(Orthogonal(1.0)(np.ones((3, 3, 2, 1), "float32"))) == 0.0
    w = np.array([[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]], "float32")
    assert float(Orthogonal(1.0)(w)) == pytest.approx(1 / 3)  # only the identical pair counts
    assert np.all(np.isfinite(gradient(Orthogonal(1.0), w)))


def test_rank_one_is_a_clear_error():
    with pytest.raises(ValueError, match=r"rank >= 2.*\(4,\)"):
        Orthogonal()(np.ones(4, "float32"))


@pytest.mark.parametrize("strength", [-1.0, float("nan"), float("inf")])
def test_bad_strength(strength):
    with pytest.raises(ValueError, match="`strength`"):
        Orthogonal(strength)


def test_keras_round_trip(keras_round_trip):
    model = keras.Sequential(
        [
            keras.Input((10, 2)),
            keras.layers.Conv1D(4, 3, kernel_regularizer=Orthogonal(0.05)),
        ]
    )
    keras_round_trip(model, np.ones((2, 10, 2), "float32"))


def test_value_is_keras_orthogonal_regularizer_on_the_reshaped_kernel():
    kernel = np.random.default_rng(1).normal(size=(3, 2, 5)).astype("float32")
    kernel[..., 2] = 0.0  # an emptied filter
    keras_value = keras.regularizers.OrthogonalRegularizer(0.4, mode="columns")
    np.testing.assert_allclose(
        float(Orthogonal(0.4)(kernel)),
        float(keras_value(keras.ops.convert_to_tensor(kernel.reshape(-1, 5)))),
        rtol=1e-6,
    )
