import keras
import numpy as np
import pytest

from regsearch.editing import Edits, rebuild


def _x():
    return np.random.default_rng(0).normal(size=(4, 5)).astype("float32")


def _relu_after(name):
    return keras.layers.Activation("relu", name=f"{name}_relu")


def test_append_after_output_keeps_sequential_and_weights():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, name="out")])
    new = rebuild(model, Edits(append=[_relu_after]))
    assert isinstance(new, keras.Sequential)
    assert [layer.name for layer in new.layers] == ["out", "out_relu"]
    np.testing.assert_allclose(
        new.predict(_x(), verbose=0), np.maximum(model.predict(_x(), verbose=0), 0)
    )


def test_append_after_every_output_of_a_multi_output_model():
    inputs = keras.Input((5,))
    outputs = {
        "a": keras.layers.Dense(2, name="head_a")(inputs),
        "b": keras.layers.Dense(3, name="head_b")(inputs),
    }
    model = keras.Model(inputs, outputs)
    new = rebuild(model, Edits(append=[_relu_after]))
    assert {"head_a_relu", "head_b_relu"} <= {layer.name for layer in new.layers}
    pred, ref = new.predict(_x(), verbose=0), model.predict(_x(), verbose=0)
    assert set(pred) == {"a", "b"}
    for key in ("a", "b"):
        np.testing.assert_allclose(pred[key], np.maximum(ref[key], 0))


def test_output_hook_sees_layer_outputs_and_makes_sequential_functional():
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(3, name="hidden"), keras.layers.Dense(3, name="out")]
    )

    def hook(outputs, produced):
        return [keras.layers.Add(name="skip")([outputs[0], produced["hidden"]])]

    new = rebuild(model, Edits(output_hooks=[hook]))
    assert not isinstance(new, keras.Sequential)
    hidden = keras.Model(model.inputs, model.get_layer("hidden").output)
    np.testing.assert_allclose(
        new.predict(_x(), verbose=0),
        model.predict(_x(), verbose=0) + hidden.predict(_x(), verbose=0),
        rtol=1e-6,
    )


def test_inserted_name_collision_is_a_value_error():
    model = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(3, name="out"), keras.layers.ReLU(name="out_relu")]
    )
    with pytest.raises(ValueError, match=r"'out_relu'.*already has"):
        rebuild(model, Edits(insert_after={"out": [_relu_after]}))


def test_unbuilt_sequential_cannot_take_output_edits():
    model = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="not built"):
        rebuild(model, Edits(append=[_relu_after]))


def _relu_before(name):
    return keras.layers.Activation("relu", name=f"{name}_relu_in")


def test_insert_before_applies_to_every_tensor_of_the_first_argument():
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    model = keras.Model([a, b], keras.layers.Add(name="add")([a, b]))
    new = rebuild(model, Edits(insert_before={"add": [_relu_before]}))
    assert "add_relu_in" in {layer.name for layer in new.layers}
    x, y = _x(), -_x()
    np.testing.assert_allclose(
        new.predict([x, y], verbose=0), np.maximum(x, 0) + np.maximum(y, 0), rtol=1e-6
    )


def test_insert_before_keeps_sequential_order():
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, name="out")])
    new = rebuild(model, Edits(insert_before={"out": [_relu_before]}))
    assert isinstance(new, keras.Sequential)
    assert [layer.name for layer in new.layers] == ["out_relu_in", "out"]
    kernel, bias = model.get_layer("out").get_weights()
    np.testing.assert_allclose(
        new.predict(_x(), verbose=0), np.maximum(_x(), 0) @ kernel + bias, rtol=1e-5
    )


def test_clone_function_is_called_once_per_shared_layer():
    inputs = keras.Input((5,))
    shared = keras.layers.Dense(5, name="shared")
    model = keras.Model(inputs, shared(shared(inputs)))
    calls = []

    def clone(layer):
        calls.append(layer.name)
        return layer.__class__.from_config(layer.get_config())

    new = rebuild(model, Edits(clone=clone))
    assert calls == ["shared"]
    np.testing.assert_allclose(
        new.predict(_x(), verbose=0), model.predict(_x(), verbose=0), rtol=1e-5
    )


def test_a_sequential_built_without_input_is_rebuilt_built_with_its_weights():
    model = keras.Sequential([keras.layers.Dense(3, name="out")])
    model.build((None, 5))
    new = rebuild(model, Edits())
    assert isinstance(new, keras.Sequential) and new.built
    np.testing.assert_allclose(
        new.predict(_x(), verbose=0), model.predict(_x(), verbose=0), rtol=1e-6
    )
