import keras
import pytest

from regsearch.editing import match_layers, match_weights, resolve_mapping


def _model():
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv1")(inputs)
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv2")(x)
    x = keras.layers.Conv2D(4, 1, name="block2_conv")(x)
    x = keras.layers.Conv2D(4, 1, name="block3_conv")(x)
    x = keras.layers.Conv2D(4, 1, name="block4_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(2, name="head")(x)
    return keras.Model(inputs, outputs)


def test_glob_patterns_match_layer_names_in_model_order():
    model = _model()
    assert match_layers(model, "conv*") == ["conv1", "conv2"]
    assert match_layers(model, "block[23]_*") == ["block2_conv", "block3_conv"]
    assert match_layers(model, ["head", "conv1"]) == ["conv1", "head"]


def test_input_layers_are_not_targets():
    assert "image" not in match_layers(_model(), "*")


def test_weight_path_patterns_select_owners_of_matching_weights():
    model = _model()
    assert "pool" not in match_layers(model, "*/kernel")
    assert match_weights(model, "*/bias")["conv1"] == ["bias"]
    assert "conv2" not in match_weights(model, "*/bias")  # use_bias=False
    assert match_weights(model, "conv1") == {"conv1": ["kernel", "bias"]}


def test_unmatched_pattern_lists_existing_names_and_suggests():
    with pytest.raises(ValueError, match=r"'conv3'.*'conv1', 'conv2'.*Did you mean"):
        match_layers(_model(), "conv3", argument="kernel")


def test_unmatched_weight_pattern_lists_weight_paths():
    with pytest.raises(ValueError, match=r"conv1/kernel"):
        match_layers(_model(), "*/gamma")


def test_resolve_mapping_accepts_tuple_keys_and_rejects_conflicts():
    model = _model()
    plan = resolve_mapping(model, {("conv1", "head"): 0.1}, argument="dropout")
    assert plan == {"conv1": 0.1, "head": 0.1}
    assert resolve_mapping(model, {"conv*": "l2", "conv1": "l2"}, argument="kernel") == {
        "conv1": "l2",
        "conv2": "l2",
    }
    with pytest.raises(ValueError, match=r"`kernel`.*'conv1'.*both"):
        resolve_mapping(model, {"conv*": "l2", "conv1": "l1"}, argument="kernel")


def test_bad_pattern_types_are_type_errors():
    model = _model()
    with pytest.raises(TypeError, match=r"`dropout`.*mapping"):
        resolve_mapping(model, 0.5, argument="dropout")
    with pytest.raises(TypeError, match="non-empty str"):
        match_layers(model, ["conv1", 3])
    with pytest.raises(ValueError, match="at least one"):
        match_layers(model, [])
