import keras
import numpy as np
import pytest

import regsearch


def _cnn():
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(8, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(8, 5, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(6, activation="relu", name="hidden")(x)
    outputs = keras.layers.Dense(3, name="head")(x)
    return keras.Model(inputs, outputs)


def _shapes(model, name):
    return [tuple(w.shape) for w in model.get_layer(name).weights]


def test_width_scales_filters_and_units_and_the_readers_follow():
    model = _cnn()
    new = regsearch.apply(model, width={"conv*": 0.25, "hidden": 0.5})
    assert _shapes(new, "conv1") == [(5, 5, 1, 2), (2,)]
    assert _shapes(new, "conv2") == [(5, 5, 2, 2), (2,)]
    assert _shapes(new, "hidden") == [(8 * 8 * 2, 3), (3,)]
    assert _shapes(new, "head") == [(3, 3), (3,)]
    assert new.output_shape == model.output_shape
    assert (
        regsearch.trimmed_size(new, 0.0).macs_before
        < regsearch.trimmed_size(model, 0.0).macs_before
    )


def test_a_squeeze_excitation_reshape_follows_the_width_of_its_channels():
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="swish", name="expand")(inputs)
    se = keras.layers.GlobalAveragePooling2D()(x)
    se = keras.layers.Reshape((1, 1, 8), name="se_reshape")(se)
    se = keras.layers.Conv2D(2, 1, activation="relu", name="se_reduce")(se)
    se = keras.layers.Conv2D(8, 1, activation="sigmoid", name="se_expand")(se)
    x = keras.layers.Multiply()([x, se])
    outputs = keras.layers.Dense(3, name="head")(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    new = regsearch.apply(model, width={"expand": 0.5, "se_expand": 0.5})
    assert new.get_layer("se_reshape").output.shape == (None, 1, 1, 4)
    assert _shapes(new, "se_reduce")[0] == (1, 1, 4, 2)
    assert new(np.zeros((2, 6, 6, 3), "float32")).shape == (2, 3)
    assert model.get_layer("se_reshape").target_shape == (1, 1, 8)  # not mutated
    # without a width change the model keeps its Reshape as it was
    same = regsearch.apply(model, kernel_size={"expand": 1})
    assert same.get_layer("se_reshape").target_shape == (1, 1, 8)


def test_width_rounds_and_keeps_at_least_one_filter():
    new = regsearch.apply(_cnn(), width={"conv1": 0.01, "conv2": 0.3})
    assert _shapes(new, "conv1")[0][-1] == 1
    assert _shapes(new, "conv2")[0][-1] == round(8 * 0.3)


def test_kernel_size_caps_each_spatial_axis_and_never_grows():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, (5, 1), padding="same", name="tall")(inputs)
    x = keras.layers.Conv2D(2, 3, padding="same", name="small")(x)
    x = keras.layers.DepthwiseConv2D(5, padding="same", name="depthwise")(x)
    model = keras.Model(inputs, x)
    new = regsearch.apply(model, kernel_size={"tall": 3, "small": 5, "depthwise": 1})
    assert new.get_layer("tall").kernel_size == (3, 1)
    assert new.get_layer("small").kernel_size == (3, 3)
    assert new.get_layer("depthwise").kernel_size == (1, 1)
    assert new.output_shape == model.output_shape


def test_unchanged_layers_keep_their_weights_and_resized_ones_start_fresh():
    model = _cnn()
    model.get_layer("conv1").kernel.assign(np.full((5, 5, 1, 8), 0.5, "float32"))
    snapshot = model.to_json(), [w.copy() for w in model.get_weights()]
    new = regsearch.apply(model, kernel_size={"conv2": 3}, kernel={"conv1": "l1"})
    np.testing.assert_array_equal(new.get_layer("conv1").kernel, model.get_layer("conv1").kernel)
    np.testing.assert_array_equal(new.get_layer("hidden").kernel, model.get_layer("hidden").kernel)
    assert _shapes(new, "conv2")[0] == (3, 3, 8, 8)
    assert isinstance(new.get_layer("conv1").kernel_regularizer, keras.regularizers.L1)
    assert model.to_json() == snapshot[0]  # the user's model is untouched
    for before, after in zip(snapshot[1], model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_a_resized_model_trains_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    new = regsearch.apply(_cnn(), width={"conv*": 0.5}, kernel_size={"conv*": 3})
    new.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 8, 8, 1)).astype("float32")
    new.fit(x, np.zeros((16, 3), "float32"), epochs=1, verbose=0)
    new.save(tmp_path / "resized.keras")
    loaded = keras.models.load_model(tmp_path / "resized.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), new.predict(x, verbose=0), atol=1e-6)


def test_a_sequential_model_is_resized():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, name="hidden"), keras.layers.Dense(1, name="out")]
    )
    new = regsearch.apply(model, width={"hidden": 0.5})
    assert isinstance(new, keras.Sequential)
    assert _shapes(new, "out")[0] == (4, 1)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"width": {"head": 0.5}}, ValueError, "produces a model output"),
        ({"width": {"flatten": 0.5}}, ValueError, "no `filters` or `units`"),
        ({"kernel_size": {"hidden": 3}}, ValueError, "has no `kernel_size`"),
        ({"width": {"conv1": 0.0}}, ValueError, r"width\['conv1'\].*> 0"),
        ({"width": {"conv1": float("nan")}}, ValueError, "finite"),
        ({"width": {"conv1": "half"}}, TypeError, "real number"),
        ({"kernel_size": {"conv1": 0}}, ValueError, r"kernel_size\['conv1'\]"),
        ({"kernel_size": {"conv1": 3.0}}, TypeError, "Pass 3 instead"),
        ({"width": {"conv9": 0.5}}, ValueError, "conv1"),
        ({"width": {"conv1": 0.5}, "freeze": {"conv1": [0]}}, ValueError, "nothing to freeze"),
    ],
)
def test_bad_resizes_are_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        regsearch.apply(_cnn(), **kwargs)


def test_a_resized_residual_branch_is_a_clear_error():
    inputs = keras.Input((4, 4, 3))
    branch = keras.layers.Conv2D(3, 3, padding="same", name="branch")(inputs)
    added = keras.layers.Add(name="add")([inputs, branch])
    model = keras.Model(inputs, keras.layers.Flatten()(added))
    with pytest.raises(ValueError, match=r"cannot be built.*must keep its width"):
        regsearch.apply(model, width={"branch": 0.5})
