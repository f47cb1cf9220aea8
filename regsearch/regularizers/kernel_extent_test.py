import keras
import numpy as np
import pytest

import regsearch
from regsearch.regularizers import KernelExtent, extent_groups, get
from regsearch.search import ExactZeros
from tests._autodiff import gradient


def _ring(shape, depth):
    """Positions of a 2-D kernel lying ``depth`` taps in from the nearest edge."""
    rows, cols = np.indices(shape)
    inward = np.minimum(
        np.minimum(rows, shape[0] - 1 - rows), np.minimum(cols, shape[1] - 1 - cols)
    )
    return inward == depth


def test_rings_of_a_5x5_kernel_outermost_first_with_falling_weights():
    (outer, w0), (inner, w1) = extent_groups((5, 5, 3, 4), "rings", 2.0)
    np.testing.assert_array_equal(outer, _ring((5, 5), 0))
    np.testing.assert_array_equal(inner, _ring((5, 5), 1))
    assert (w0, w1) == (1.0, 0.25)
    assert [w for _, w in extent_groups((7, 7, 1, 1), "rings", 1.0)] == pytest.approx(
        [1.0, 2 / 3, 1 / 3]
    )


def test_rings_of_a_rectangular_kernel_cut_each_axis_as_far_as_it_goes():
    (outer, _), (inner, _) = extent_groups((3, 5, 1, 1), "rings")
    rows, cols = np.indices((3, 5))
    np.testing.assert_array_equal(outer, (rows != 1) | (cols == 0) | (cols == 4))
    np.testing.assert_array_equal(inner, (rows == 1) & ((cols == 1) | (cols == 3)))


def test_axes_groups_are_pairs_of_edge_slices_of_each_axis():
    found = extent_groups((5, 3, 1, 1), "axes", 1.0)
    assert len(found) == 3  # two levels of rows, one of columns
    rows, cols = np.indices((5, 3))
    np.testing.assert_array_equal(found[0][0], (rows == 0) | (rows == 4))
    np.testing.assert_array_equal(found[1][0], (rows == 1) | (rows == 3))
    np.testing.assert_array_equal(found[2][0], (cols != 1))
    assert [w for _, w in found] == [1.0, 0.5, 1.0]


@pytest.mark.parametrize("groups", ["rings", "axes"])
def test_kernels_without_taps_to_cut_have_no_groups(groups):
    for shape in [(1, 1, 4, 8), (2, 2, 1, 1), (1, 2, 3, 1)]:
        assert extent_groups(shape, groups, 2.0) == ()
        assert float(KernelExtent(1.0, groups)(np.ones(shape, "float32"))) == 0.0


def test_hand_computed_5x5_rings():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(5, 5, 2, 3)).astype("float32")
    expected = 0.1 * sum(
        weight * np.sqrt(mask.sum() * 6) * np.sqrt(np.sum(np.square(kernel[mask])))
        for mask, weight in ((_ring((5, 5), 0), 1.0), (_ring((5, 5), 1), 0.25))
    )
    np.testing.assert_allclose(float(KernelExtent(0.1)(kernel)), expected, rtol=1e-5)
    flat = 0.1 * sum(
        np.sqrt(mask.sum() * 6) * np.sqrt(np.sum(np.square(kernel[mask])))
        for mask in (_ring((5, 5), 0), _ring((5, 5), 1))
    )
    np.testing.assert_allclose(float(KernelExtent(0.1, power=0.0)(kernel)), flat, rtol=1e-5)


def test_hand_computed_1d_and_3d_kernels():
    kernel = np.zeros((5, 1, 1), "float32")
    kernel[0, 0, 0], kernel[1, 0, 0] = 3.0, 4.0
    # taps {0, 4} (norm 3, weight 1) and {1, 3} (norm 4, weight 1/4)
    expected = 2**0.5 * 3.0 + 0.25 * 2**0.5 * 4.0
    np.testing.assert_allclose(float(KernelExtent(1.0)(kernel)), expected, rtol=1e-6)
    cube = np.ones((3, 3, 3, 1, 2), "float32")
    # rings: one group, the 26 positions around the centre, 2 channels each
    np.testing.assert_allclose(float(KernelExtent(1.0)(cube)), 52.0, rtol=1e-6)
    # axes: per axis, the 18 positions off the middle plane
    np.testing.assert_allclose(float(KernelExtent(1.0, "axes")(cube)), 3 * 36.0, rtol=1e-6)


@pytest.mark.parametrize("groups", ["rings", "axes"])
def test_an_empty_outer_ring_costs_less_than_a_full_one_and_zero_costs_nothing(groups):
    kernel = np.ones((5, 5, 2, 2), "float32")
    inner = kernel.copy()
    inner[_ring((5, 5), 0)] = 0.0
    assert float(KernelExtent(1.0, groups)(inner)) < float(KernelExtent(1.0, groups)(kernel))
    zero = float(KernelExtent(1.0, groups)(np.zeros((5, 5, 2, 2), "float32")))
    assert zero == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("groups", ["rings", "axes"])
def test_gradient_pulls_outer_taps_harder_and_is_zero_at_an_empty_ring(groups):
    kernel = np.ones((5, 5, 1, 1), "float32")
    grad = gradient(KernelExtent(1.0, groups), kernel)[..., 0, 0]
    assert np.all(np.isfinite(grad))
    assert grad[0, 0] > grad[1, 1] > grad[2, 2] == 0.0
    emptied = kernel.copy()
    emptied[_ring((5, 5), 0)] = 0.0
    grad = gradient(KernelExtent(1.0, groups), emptied)[..., 0, 0]
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad[_ring((5, 5), 0)], 0.0)


def test_rings_gradient_by_hand():
    kernel = np.zeros((3, 3, 1, 1), "float32")
    kernel[0, 1, 0, 0] = 2.0  # the only weight of the one group (8 positions)
    grad = gradient(KernelExtent(0.5), kernel)
    expected = np.zeros_like(kernel)
    expected[0, 1, 0, 0] = 0.5 * 8**0.5  # d/dw sqrt(8) * |w|
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("layer", "input_shape"),
    [
        (keras.layers.Conv1D(2, 5), (8, 3)),
        (keras.layers.Conv2D(2, 5), (8, 8, 3)),
        (keras.layers.Conv3D(2, 3), (6, 6, 6, 3)),
        (keras.layers.DepthwiseConv2D(3), (8, 8, 3)),
        (keras.layers.Conv2DTranspose(2, 3), (8, 8, 3)),
    ],
    ids=lambda p: type(p).__name__ if isinstance(p, keras.layers.Layer) else "",
)
def test_works_on_conv_kernels(layer, input_shape):
    layer.build((None, *input_shape))
    value = float(KernelExtent(1.0)(layer.kernel))
    assert np.isfinite(value) and value > 0


def test_dense_kernel_is_a_clear_error():
    with pytest.raises(ValueError, match=r"spatial axis.*\(8, 4\).*Dense"):
        KernelExtent()(np.ones((8, 4), "float32"))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"strength": -0.1}, ValueError, r"`strength`.*-0\.1"),
        ({"strength": "big"}, TypeError, r"`strength`.*'big'"),
        ({"groups": "ring"}, ValueError, r"`groups`.*'ring'.*Did you mean 'rings'"),
        ({"power": -1.0}, ValueError, r"`power` must be >= 0.0; received -1.0"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        KernelExtent(**kwargs)


def test_config_round_trip_and_resolution_by_name():
    reg = KernelExtent(0.02, "axes")
    assert reg.get_config() == {"strength": 0.02, "groups": "axes", "power": 2.0}
    assert KernelExtent.from_config(reg.get_config()).get_config() == reg.get_config()
    assert type(get("kernel_extent")) is KernelExtent
    assert get(keras.saving.serialize_keras_object(reg)).get_config() == reg.get_config()


def test_keras_round_trip(keras_round_trip):
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 5, kernel_regularizer=KernelExtent(0.01)),
            keras.layers.DepthwiseConv2D(3, depthwise_regularizer=KernelExtent(groups="axes")),
        ]
    )
    keras_round_trip(model, np.ones((2, 8, 8, 1), "float32"))


def test_exact_zeros_snaps_an_emptied_ring_only():
    model = keras.Sequential(
        [keras.Input((8, 8, 2)), keras.layers.Conv2D(3, 5, kernel_regularizer=KernelExtent())]
    )
    kernel = np.ones((5, 5, 2, 3), "float32")
    kernel[_ring((5, 5), 0)] = 1e-4  # the outer ring is emptied
    kernel[2, 2] = 1e-4  # a small centre is not a group: it stays
    model.layers[0].kernel.assign(kernel)
    callback = ExactZeros(1e-3)
    callback.set_model(model)
    callback.on_train_batch_end(0)
    snapped = keras.ops.convert_to_numpy(model.layers[0].kernel)
    np.testing.assert_array_equal(snapped[_ring((5, 5), 0)], 0.0)
    np.testing.assert_array_equal(snapped[~_ring((5, 5), 0)], kernel[~_ring((5, 5), 0)])


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")[..., None]
    return x, digits.target.astype("int32")


# Adam's steps do not shrink with the gradient: at a constant rate an emptied ring
# jitters at a few 1e-3, above ExactZeros' threshold, so the last quarter of the
# epochs trains at a tenth of the rate (as in KernelLength's test).
@pytest.mark.slow
def test_training_on_digits_empties_the_outer_ring_and_trim_makes_the_kernel_3x3():
    x, y = _digits()

    def fit(regularizer):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((8, 8, 1)),
                keras.layers.Conv2D(
                    8,
                    5,
                    padding="same",
                    activation="relu",
                    kernel_regularizer=regularizer,
                    name="conv",
                ),
                keras.layers.Flatten(),
                keras.layers.Dense(10, name="out"),
            ]
        )
        epochs, steps = 12, -(-len(x) // 64)
        rate = keras.optimizers.schedules.PiecewiseConstantDecay(
            [steps * epochs * 3 // 4], [0.01, 0.001]
        )
        model.compile(
            keras.optimizers.Adam(rate),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        history = model.fit(
            x, y, epochs=epochs, batch_size=64, verbose=0, callbacks=[ExactZeros(1e-3)]
        )
        return model, history.history["accuracy"][-1]

    model, accuracy = fit(KernelExtent(0.015))
    kernel = keras.ops.convert_to_numpy(model.get_layer("conv").kernel)
    np.testing.assert_array_equal(kernel[_ring((5, 5), 0)], 0.0)
    assert np.sqrt(np.mean(np.square(kernel[_ring((5, 5), 1)]))) > 0.05
    assert accuracy > 0.95
    trimmed, report = regsearch.trim(model, 0.0)  # only the exact zeros count
    assert tuple(trimmed.get_layer("conv").kernel_size) == (3, 3)
    assert report.macs_after < report.macs_before
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(trimmed(x[:64])),
        keras.ops.convert_to_numpy(model(x[:64])),
        rtol=1e-5,
        atol=1e-5,
    )
    plain, _ = fit(None)  # without the penalty no edge tap is exactly zero
    assert np.all(keras.ops.convert_to_numpy(plain.get_layer("conv").kernel) != 0)
