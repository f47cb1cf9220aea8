import keras
import numpy as np
import pytest

from regsearch.regularizers import KernelLength
from regsearch.regularizers._kernel_length import kernel_window
from tests._autodiff import gradient


def _one_hot_1d(length, tap, value=1.0):
    kernel = np.zeros((length, 1, 1), "float32")
    kernel[tap] = value
    return kernel


@pytest.mark.parametrize("length", [3, 7, 31])
@pytest.mark.parametrize("poly_exp", [1, 2, 3])
def test_single_weight_penalty_matches_poly_formula(length, poly_exp):
    reg = KernelLength(0.5, poly_exp=poly_exp)
    centre = length // 2
    for tap in range(length):
        expected = 0.5 * (abs(tap - centre) / (length // 2)) ** poly_exp
        got = float(reg(_one_hot_1d(length, tap)))
        np.testing.assert_allclose(got, expected, rtol=0.02, atol=1e-7)


def test_hand_computed_1d_kernel():
    # L = 5, poly_exp = 2: window [1, 0.25, 0, 0.25, 1]; mask ~1 for |w| >> threshold.
    kernel = np.array([0.5, -2.0, 3.0, 0.0, 1.0], "float32").reshape(5, 1, 1)
    got = float(KernelLength(0.1)(kernel))
    expected = 0.1 * (1.0 * 0.5 + 0.25 * 2.0 + 0.0 * 3.0 + 0.25 * 0.0 + 1.0 * 1.0)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_zero_kernel_costs_nothing():
    for shape in [(5, 2, 3), (3, 3, 2, 4), (3, 3, 3, 1, 2)]:
        assert float(KernelLength(1.0)(np.zeros(shape, "float32"))) == 0.0


def test_mask_is_soft_threshold():
    reg = KernelLength(1.0, threshold=0.01)
    edge = 0  # window 1 at the first tap of a length-5 kernel
    assert float(reg(_one_hot_1d(5, edge, 1e-5))) < 1e-8
    # well above the threshold the mask is ~1 and the penalty is window * |w|
    assert float(reg(_one_hot_1d(5, edge, 0.03))) == pytest.approx(0.03, rel=0.01)


@pytest.mark.parametrize("shape", [(5, 1, 1), (3, 3, 2, 2), (3, 3, 3, 1, 1)])
def test_gradient_finite_at_zero(shape):
    for window in ["poly", "hann", "hamming"]:
        grad = gradient(KernelLength(1.0, window), np.zeros(shape))
        assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("window", ["poly", "hann", "hamming"])
def test_2d_window_zero_only_at_centre_one_at_far_corners(window):
    win = kernel_window((5, 5, 1, 1), window, 2)[..., 0, 0]
    assert win[2, 2] == 0.0
    off_centre = np.ones((5, 5), bool)
    off_centre[2, 2] = False
    # The reference implementation's outer product is zero on the whole centre row
    # and column; here every position away from the centre is penalized.
    assert np.all(win[off_centre] > 0)
    for corner in [(0, 0), (0, 4), (4, 0), (4, 4)]:
        np.testing.assert_allclose(win[corner], 1.0)
    assert np.all(win <= 1.0)
    np.testing.assert_allclose(win, win.T)


def test_2d_poly_window_is_mean_of_axis_windows():
    win = kernel_window((3, 5, 1, 1), "poly", 2)[..., 0, 0]
    rows = np.array([1.0, 0.0, 1.0])[:, None]
    cols = np.array([1.0, 0.25, 0.0, 0.25, 1.0])[None, :]
    np.testing.assert_allclose(win, (rows + cols) / 2)


def test_hann_window_1d():
    win = kernel_window((5, 1, 1), "hann", 2)[:, 0, 0]
    np.testing.assert_allclose(win, [1.0, 0.5, 0.0, 0.5, 1.0], atol=1e-7)
    np.testing.assert_allclose(kernel_window((5, 1, 1), "hamming", 2), win[:, None, None])


def test_3d_window_and_length_one_axes():
    win = kernel_window((3, 3, 3, 1, 1), "poly", 2)[..., 0, 0]
    assert win[1, 1, 1] == 0.0
    np.testing.assert_allclose(win[0, 0, 0], 1.0)
    np.testing.assert_allclose(win[0, 1, 1], 1 / 3)
    # A (1, 5) Conv2D kernel is treated as the 1-D kernel it is.
    np.testing.assert_allclose(
        kernel_window((1, 5, 1, 1), "poly", 2).ravel(), [1.0, 0.25, 0.0, 0.25, 1.0]
    )
    assert not np.any(kernel_window((1, 1, 4, 8), "poly", 2))


def test_even_length_ends_at_one():
    win = kernel_window((4, 1, 1), "poly", 1).ravel()
    np.testing.assert_allclose(win, [1.0, 1 / 3, 1 / 3, 1.0])


@pytest.mark.parametrize(
    ("layer", "input_shape"),
    [
        (keras.layers.Conv1D(2, 5), (8, 3)),
        (keras.layers.Conv2D(2, 3), (8, 8, 3)),
        (keras.layers.Conv3D(2, 3), (6, 6, 6, 3)),
        (keras.layers.DepthwiseConv2D(3), (8, 8, 3)),
        (keras.layers.DepthwiseConv1D(5), (8, 3)),
        (keras.layers.Conv1DTranspose(2, 5), (8, 3)),
    ],
    ids=lambda p: type(p).__name__ if isinstance(p, keras.layers.Layer) else "",
)
def test_works_on_conv_kernels(layer, input_shape):
    layer.build((None, *input_shape))
    value = float(KernelLength(1.0)(layer.kernel))
    assert np.isfinite(value) and value > 0


def test_dense_kernel_is_a_clear_error():
    layer = keras.layers.Dense(4)
    layer.build((None, 8))
    with pytest.raises(ValueError, match=r"spatial axis.*\(8, 4\).*Dense"):
        KernelLength()(layer.kernel)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"strength": -0.1}, ValueError, r"`strength`.*-0\.1"),
        ({"strength": float("nan")}, ValueError, r"`strength`.*nan"),
        ({"strength": float("inf")}, ValueError, r"`strength`.*inf"),
        ({"strength": "big"}, TypeError, r"`strength`.*'big'"),
        ({"window": "han"}, ValueError, r"`window`.*'han'.*Did you mean 'hann'"),
        ({"poly_exp": 2.5}, TypeError, r"`poly_exp`.*2\.5"),
        ({"poly_exp": 2.0}, TypeError, r"`poly_exp`.*Pass 2"),
        ({"poly_exp": 0}, ValueError, r"`poly_exp`.*0"),
        ({"threshold": 0.0}, ValueError, r"`threshold`.*0\.0"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        KernelLength(**kwargs)


def test_config_round_trip():
    reg = KernelLength(0.2, "hann", poly_exp=3, threshold=0.01)
    assert KernelLength.from_config(reg.get_config()).get_config() == reg.get_config()


def test_keras_round_trip(keras_round_trip):
    model = keras.Sequential(
        [
            keras.Input((16, 2)),
            keras.layers.Conv1D(3, 7, kernel_regularizer=KernelLength(0.1, "hamming")),
        ]
    )
    loaded = keras_round_trip(model, np.ones((2, 16, 2), "float32"))
    assert loaded.layers[0].kernel_regularizer.get_config() == {
        "strength": 0.1,
        "window": "hamming",
        "poly_exp": 2,
        "threshold": 1e-3,
    }


def _fir_data(rng, taps, n, length, noise):
    x = rng.normal(size=(n, length, 1)).astype("float32")
    y = np.stack([np.convolve(s[:, 0], taps[::-1], mode="valid") for s in x])
    y = y + noise * rng.normal(size=y.shape)
    return x, y[..., None].astype("float32")


# Adam's steps do not shrink with the gradient: at a constant rate the outer taps
# the penalty holds near 0 jitter by up to about 1e-2, so whether the last step
# leaves them under the threshold was luck. On TensorFlow a seeded fit replays one
# batch order every epoch, which kept the luck; JAX reshuffles every epoch and the
# test failed there. The last quarter of the epochs at a tenth of the rate lets the
# weights settle: 6 seeds on each backend end with every outer tap under 3e-3. At
# strength 0.1 the penalized optimum itself has an outer tap at 4.6e-3; 0.3 leaves
# a margin.
@pytest.mark.slow
def test_training_shortens_a_31_tap_kernel_to_the_5_true_taps():
    rng = np.random.default_rng(0)
    taps = np.zeros(31, "float32")
    taps[13:18] = [0.3, -0.6, 1.0, -0.6, 0.3]
    x, y = _fir_data(rng, taps, n=256, length=48, noise=0.5)
    threshold = 5e-3

    def fit(regularizer):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((48, 1)),
                keras.layers.Conv1D(1, 31, use_bias=False, kernel_regularizer=regularizer),
            ]
        )
        epochs, steps_per_epoch = 30, len(x) // 32
        rate = keras.optimizers.schedules.PiecewiseConstantDecay(
            [epochs * steps_per_epoch * 3 // 4], [0.02, 0.002]
        )
        model.compile(keras.optimizers.Adam(rate), "mse")
        model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
        kernel = model.layers[0].kernel.numpy()[:, 0, 0]
        return np.delete(kernel, range(13, 18)), kernel[13:18]

    outside, inside = fit(KernelLength(0.3, threshold=threshold))
    assert np.all(np.abs(outside) < threshold), outside
    np.testing.assert_allclose(inside, taps[13:18], atol=0.05)

    plain_outside, _ = fit(None)
    assert np.sum(np.abs(plain_outside) >= threshold) >= 5, plain_outside
