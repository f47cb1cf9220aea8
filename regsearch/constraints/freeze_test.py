import keras
import numpy as np
import pytest

import regsearch
from regsearch.constraints import FreezeFilters


def _conv_model(**conv_kwargs):
    return keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, name="conv", **conv_kwargs),
            keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(1, name="out"),
        ]
    )


def _data():
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(16, 6, 6, 2)).astype("float32"),
        rng.normal(size=(16, 1)).astype("float32"),
    )


def _train(model, steps=3):
    x, y = _data()
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse")
    model.fit(x, y, batch_size=8, epochs=steps, verbose=0)


def test_freeze_filters_replaces_only_the_chosen_filters():
    w = np.arange(12.0, dtype="float32").reshape(2, 2, 3)
    freeze = FreezeFilters([0, 2], w[..., [0, 2]])
    out = keras.ops.convert_to_numpy(freeze(keras.ops.zeros((2, 2, 3))))
    np.testing.assert_array_equal(out[..., [0, 2]], w[..., [0, 2]])
    np.testing.assert_array_equal(out[..., 1], 0.0)


def test_freeze_filters_applies_a_user_constraint_first():
    freeze = FreezeFilters([0], [[-1.0]], constraint=keras.constraints.NonNeg())
    out = keras.ops.convert_to_numpy(freeze(keras.ops.convert_to_tensor([[-5.0, -2.0]])))
    np.testing.assert_array_equal(out, [[-1.0, 0.0]])


def test_freeze_filters_config_round_trip_is_exact():
    values = np.random.default_rng(0).normal(size=(3, 2)).astype("float32")
    freeze = FreezeFilters([1, 3], values, constraint=keras.constraints.NonNeg())
    config = keras.saving.serialize_keras_object(freeze)
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, FreezeFilters)
    assert restored.indices == [1, 3]
    assert isinstance(restored.constraint, keras.constraints.NonNeg)
    np.testing.assert_array_equal(restored.values.astype("float32"), values)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"indices": [0, 0], "values": [[1.0, 1.0]]}, "duplicates"),
        ({"indices": [0, 1], "values": [[1.0]]}, "2 entries"),
        ({"indices": [-1], "values": [[1.0]]}, "`indices` must be >= 0"),
    ],
)
def test_freeze_filters_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FreezeFilters(**kwargs)


def test_apply_freeze_keeps_filters_exact_under_adam_and_l2():
    model = _conv_model()
    original = [w.copy() for w in model.get_weights()]
    new = regsearch.apply(
        model, kernel={"conv": keras.regularizers.L2(0.1)}, freeze={"conv": [0, 2]}
    )
    before_kernel, before_bias = (w.copy() for w in new.get_layer("conv").get_weights())
    _train(new)
    kernel, bias = new.get_layer("conv").get_weights()
    np.testing.assert_array_equal(kernel[..., [0, 2]], before_kernel[..., [0, 2]])
    np.testing.assert_array_equal(bias[[0, 2]], before_bias[[0, 2]])
    # The other filters trained.
    assert np.abs(kernel[..., [1, 3]] - before_kernel[..., [1, 3]]).min() > 0
    assert np.all(bias[[1, 3]] != before_bias[[1, 3]])
    # The user's model is untouched.
    for a, b in zip(original, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.get_layer("conv").kernel.constraint is None


def test_freeze_combines_with_an_existing_constraint_and_weight_paths():
    model = _conv_model(kernel_constraint=keras.constraints.NonNeg())
    new = regsearch.apply(model, freeze={"conv/kernel": [1]})
    layer = new.get_layer("conv")
    assert isinstance(layer.kernel_constraint, FreezeFilters)
    assert isinstance(layer.kernel_constraint.constraint, keras.constraints.NonNeg)
    assert layer.bias.constraint is None  # only the kernel was named
    before = layer.kernel.numpy().copy()
    _train(new)
    kernel = layer.kernel.numpy()
    np.testing.assert_array_equal(kernel[..., 1], before[..., 1])
    assert kernel[..., [0, 2, 3]].min() >= 0.0


def test_freeze_conv_transpose_uses_its_filter_axis():
    model = keras.Sequential(
        [keras.Input((4, 4, 2)), keras.layers.Conv2DTranspose(3, 2, name="up")]
    )
    new = regsearch.apply(model, freeze={"up": [2]})
    assert new.get_layer("up").kernel_constraint.axis == -2
    with pytest.raises(ValueError, match=r"\[3\] are out of range.*3 filters"):
        regsearch.apply(model, freeze={"up": [3]})


@pytest.mark.parametrize(
    ("freeze", "error", "message"),
    [
        ({"conv": [4]}, ValueError, r"`freeze`.*\[4\] are out of range.*'conv'.*4 filters"),
        ({"pool": [0]}, ValueError, r"`freeze`.*'pool'.*no kernel or bias"),
        ({"conv": [1.5]}, TypeError, r"freeze\['conv'\]"),
        ({"conv": "0"}, TypeError, r"filter index"),
        ([0], TypeError, r"`freeze` must be a mapping"),
        ({"convv": [0]}, ValueError, r"Did you mean 'conv'"),
    ],
)
def test_bad_freeze_arguments(freeze, error, message):
    with pytest.raises(error, match=message):
        regsearch.apply(_conv_model(), freeze=freeze)


def test_frozen_model_round_trips_and_stays_frozen(tmp_path):
    x, _ = _data()
    new = regsearch.apply(_conv_model(), freeze={"conv": [3]}, kernel={"conv": "l2"})
    path = tmp_path / "frozen.keras"
    new.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), new.predict(x, verbose=0))
    np.testing.assert_allclose(
        [float(v) for v in loaded.losses], [float(v) for v in new.losses], rtol=1e-6
    )
    constraint = loaded.get_layer("conv").kernel.constraint
    assert isinstance(constraint, FreezeFilters)
    before = loaded.get_layer("conv").kernel.numpy().copy()
    _train(loaded, steps=2)
    np.testing.assert_array_equal(loaded.get_layer("conv").kernel.numpy()[..., 3], before[..., 3])


def test_freeze_needs_a_built_model():
    model = keras.Sequential([keras.layers.Dense(2, name="d")])
    with pytest.raises(ValueError, match="`freeze` needs a built model"):
        regsearch.apply(model, freeze={"d": [0]})
