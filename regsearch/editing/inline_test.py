import keras
import numpy as np
import pytest

import regsearch
from regsearch.editing import inline_models, nested_models

L = keras.layers


def _backbone():
    inner = keras.Sequential(
        [keras.Input((8, 8, 4)), L.Conv2D(4, 1, name="inner_conv")], name="inner"
    )
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(4, 3, padding="same", name="stem")(inputs)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.Add(name="add")([x, inner(x)])  # a model nested two deep
    return keras.Model(inputs, x, name="backbone")


def _model():
    backbone = _backbone()
    inputs = keras.Input((8, 8, 1))
    x = L.GlobalAveragePooling2D(name="pool")(backbone(inputs, training=False))
    return keras.Model(inputs, L.Dense(2, name="head")(x), name="classifier")


def test_nested_models_become_the_model_s_own_layers_with_their_weights():
    keras.utils.set_random_seed(0)
    model = _model()
    model.get_layer("backbone").get_layer("stem_bn").set_weights(
        [np.full(4, 2.0), np.full(4, 0.5), np.full(4, 0.1), np.full(4, 3.0)]
    )
    model.get_layer("backbone").get_layer("stem").trainable = False
    before = [w.copy() for w in model.get_weights()]
    layers = list(model.layers)
    flat = inline_models(model)
    names = [layer.name for layer in flat.layers]
    assert {"stem", "stem_bn", "inner_conv", "add", "pool", "head"} <= set(names)
    assert not nested_models(flat) and [m.name for m in nested_models(model)] == ["backbone"]
    assert not flat.get_layer("stem").trainable and flat.get_layer("head").trainable
    x = np.random.default_rng(0).normal(size=(5, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(flat.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    # the copy is independent of the user's model, which is as it was
    flat.get_layer("head").set_weights([np.zeros((4, 2)), np.zeros(2)])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model.layers == layers and len(model.get_layer("backbone").layers) == 5


def test_a_model_without_nested_models_comes_back_as_it_is():
    model = _backbone().get_layer("inner")
    assert inline_models(model) is model


def test_two_layers_of_one_name_across_nested_models_are_refused_with_the_fix():
    inputs = keras.Input((8, 8, 1))
    x = _backbone()(inputs)
    x = L.Conv2D(2, 1, name="stem")(x)  # the backbone has a "stem" too
    with pytest.raises(ValueError, match="Rename the layers so that every name is unique"):
        inline_models(keras.Model(inputs, x))


def test_trim_says_how_to_reach_inside_a_nested_model_and_trims_it_once_inlined():
    keras.utils.set_random_seed(0)
    model = _model()
    stem = model.get_layer("backbone").get_layer("stem")
    kernel, bias = stem.get_weights()
    kernel[..., 1], bias[1] = 0.0, 0.0  # a dead filter inside the backbone
    stem.set_weights([kernel, bias])
    bn = model.get_layer("backbone").get_layer("stem_bn")
    bn.set_weights([np.ones(4), np.zeros(4), np.zeros(4), np.ones(4)])
    inner = model.get_layer("backbone").get_layer("inner").get_layer("inner_conv")
    inner_kernel, inner_bias = inner.get_weights()
    inner_kernel[..., 1], inner_bias[1] = 0.0, 0.0
    inner.set_weights([inner_kernel, inner_bias])
    _, report = regsearch.trim(model)
    assert "regsearch.editing.inline_models(model)" in report.skipped["backbone"]
    trimmed, _ = regsearch.trim(inline_models(model))
    assert trimmed.get_layer("stem").filters == 3
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(
        trimmed.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5
    )
