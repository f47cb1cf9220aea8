"""trim() removes output channels that no consumer uses (zero input rows downstream)."""

import keras
import numpy as np

import regsearch
from regsearch.trimming import trimmed_size

L = keras.layers


def _weights(layer, rng, *, unused_in=()):
    """Random weights with |w| >= 0.1, and input channels ``unused_in`` exactly zero."""
    new = []
    for w in layer.get_weights():
        w = rng.normal(size=w.shape)
        new.append((np.sign(w) * (0.1 + np.abs(w)) * 0.5).astype("float32"))
    for c in unused_in:
        new[0][..., c, :] = 0.0
    layer.set_weights(new)


def _randomize(model, seed=0, **unused):
    """Fill every layer with random weights; ``unused[name]`` lists its zero input rows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [gamma + 0.5, beta + 0.1, rng.normal(size=mean.shape), var + rng.random(var.shape)]
            )
        elif layer.weights:
            _weights(layer, rng, unused_in=unused.get(layer.name, ()))


def _check(model, input_shape):
    """The trimmed model computes what ``model`` computes and has the predicted size."""
    x = np.random.default_rng(1).normal(size=(2, *input_shape)).astype("float32")
    trimmed, report = regsearch.trim(model, sample=x)
    size = trimmed_size(model)
    assert report.max_abs_error < 1e-5
    assert size.params == trimmed.count_params() == report.params_after
    assert size.macs == trimmed_size(trimmed, 0.0).macs_before == report.macs_after
    return trimmed, report


def test_conv_filter_unused_by_the_next_conv_is_removed():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            L.Conv2D(4, 3, padding="same", name="c1"),
            L.Conv2D(3, 3, padding="same", name="c2"),
        ]
    )
    _randomize(model, c2=[2])
    trimmed, report = _check(model, (8, 8, 2))
    assert trimmed.get_layer("c1").filters == 3
    assert trimmed.get_layer("c2").kernel.shape[-2] == 3
    assert report.layers[0].unused_filters == (2,)
    assert "(1 unused)" in str(report)


def test_unused_channel_goes_through_batch_norm_relu_and_pooling():
    inputs = keras.Input((8, 8, 2))
    x = L.Conv2D(5, 3, padding="same", name="c1")(inputs)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU()(x)
    x = L.MaxPooling2D()(x)
    out = L.Conv2D(3, 3, name="c2")(x)
    model = keras.Model(inputs, out)  # a functional model
    _randomize(model, c2=[0, 3])
    trimmed, _ = _check(model, (8, 8, 2))
    assert trimmed.get_layer("c1").filters == 3
    assert trimmed.get_layer("bn").gamma.shape == (3,)


def test_flatten_to_dense_needs_every_row_of_the_channel_zero():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            L.Conv2D(3, 3, activation="relu", name="c1"),
            L.Flatten(),
            L.Dense(2, name="d"),
        ]
    )
    _randomize(model)
    kernel, bias = model.get_layer("d").get_weights()
    rows = kernel.reshape(16, 3, 2)
    rows[:, 1] = 0.0  # every row fed by channel 1
    rows[:5, 2] = 0.0  # only some rows fed by channel 2
    model.get_layer("d").set_weights([rows.reshape(48, 2), bias])
    trimmed, report = _check(model, (6, 6, 1))
    assert report.layers[0].unused_filters == (1,)
    assert trimmed.get_layer("d").kernel.shape == (32, 2)


def test_channel_used_by_one_of_two_consumers_is_kept():
    inputs = keras.Input((10, 2))
    x = L.Conv1D(3, 3, name="c1")(inputs)
    a = L.Conv1D(2, 3, name="a")(x)
    b = L.Conv1D(2, 3, name="b")(x)
    model = keras.Model(inputs, L.Add()([a, b]))
    _randomize(model, a=[0, 1], b=[1])
    trimmed, _ = _check(model, (10, 2))
    assert trimmed.get_layer("c1").filters == 2  # only channel 1 is unused by both
    assert trimmed.get_layer("a").kernel.shape[-2] == 2


def test_channel_that_is_a_model_output_is_kept():
    inputs = keras.Input((10, 2))
    x = L.Conv1D(3, 3, name="c1")(inputs)
    y = L.Conv1D(2, 3, name="c2")(x)
    model = keras.Model(inputs, [x, y])
    _randomize(model, c2=[0])
    trimmed, report = _check(model, (10, 2))
    assert trimmed.get_layer("c1").filters == 3
    assert report.params_after == report.params_before


def test_add_merge_removes_a_channel_only_when_both_branches_can_lose_it():
    inputs = keras.Input((10, 2))
    a = L.Conv1D(4, 3, padding="same", name="a")(inputs)
    b = L.Conv1D(4, 5, padding="same", name="b")(inputs)
    s = L.Add()([a, b])
    out = L.Conv1D(2, 3, name="head")(L.Activation("tanh")(s))
    model = keras.Model(inputs, out)
    _randomize(model, head=[1, 3])
    trimmed, report = _check(model, (10, 2))
    assert trimmed.get_layer("a").filters == trimmed.get_layer("b").filters == 2
    assert report.layers[1].unused_filters == (1, 3)


def test_add_merge_keeps_a_channel_a_branch_still_uses():
    inputs = keras.Input((10, 2))
    a = L.Conv1D(4, 3, padding="same", name="a")(inputs)
    b = L.Conv1D(4, 3, padding="same", name="b")(a)  # a also feeds b
    s = L.Add()([a, b])
    out = L.Conv1D(2, 3, name="head")(s)
    model = keras.Model(inputs, out)
    _randomize(model, head=[1, 3], b=[3])
    trimmed, _ = _check(model, (10, 2))
    # head ignores channels 1 and 3 of the sum, but b still reads a's channel 1, so
    # only channel 3 goes from both branches.
    assert trimmed.get_layer("a").filters == trimmed.get_layer("b").filters == 3
    assert trimmed.get_layer("b").kernel.shape[-2] == 3


def test_chain_of_three_layers_iterates_to_a_fixpoint():
    model = keras.Sequential(
        [
            keras.Input((12, 2)),
            L.Conv1D(3, 3, name="a"),
            L.Conv1D(3, 3, name="b"),
            L.Dense(2, name="c"),
        ]
    )
    _randomize(model, c=[2])
    kernel, bias = model.get_layer("b").get_weights()
    kernel[:, 0, :2] = 0.0  # a's filter 0 feeds only b's filter 2, which c ignores
    model.get_layer("b").set_weights([kernel, bias])
    trimmed, report = _check(model, (12, 2))
    assert trimmed.get_layer("b").filters == 2
    assert trimmed.get_layer("a").filters == 2
    assert [e.unused_filters for e in report.layers] == [(0,), (2,), ()]


def test_trimmed_model_round_trips_through_keras_file(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((8, 2)),
            L.Conv1D(4, 3, activation="relu", name="c1"),
            L.GlobalAveragePooling1D(),
            L.Dense(2, name="d"),
        ]
    )
    _randomize(model, d=[0, 2])
    trimmed, _ = _check(model, (8, 2))
    path = tmp_path / "trimmed.keras"
    trimmed.save(path)
    loaded = keras.saving.load_model(path)
    x = np.random.default_rng(2).normal(size=(3, 8, 2)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert loaded.get_layer("c1").filters == 2


def test_layer_whose_outputs_nobody_uses_keeps_one_channel():
    model = keras.Sequential(
        [keras.Input((8, 2)), L.Conv1D(3, 3, name="c1"), L.Conv1D(2, 3, name="c2")]
    )
    _randomize(model, c2=[0, 1, 2])
    trimmed, report = _check(model, (8, 2))  # no error: removing channels is optional
    assert trimmed.get_layer("c1").filters == 1
    assert len(report.layers[0].unused_filters) == 2


def test_depthwise_channel_goes_when_all_its_outputs_are_unused():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            L.Conv2D(3, 3, padding="same", name="c1"),
            L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw"),
            L.Conv2D(2, 1, name="c2"),
        ]
    )
    # dw's channel 1 makes outputs 2 and 3; channel 2 makes 4 and 5 (5 is still used).
    _randomize(model, c2=[2, 3, 4])
    trimmed, report = _check(model, (8, 8, 2))
    assert trimmed.get_layer("c1").filters == 2
    assert trimmed.get_layer("dw").get_weights()[0].shape == (3, 3, 2, 2)
    assert trimmed.get_layer("c2").kernel.shape[-2] == 4
    assert report.layers[1].unused_filters == (2, 3)


def test_concatenate_maps_unused_channels_back_to_each_branch():
    inputs = keras.Input((10, 2))
    a = L.Conv1D(3, 3, name="a")(inputs)
    b = L.Conv1D(2, 3, name="b")(inputs)
    out = L.Dense(2, name="d")(L.Concatenate()([a, b]))
    model = keras.Model(inputs, out)
    _randomize(model, d=[1, 4])  # a's channel 1 and b's channel 1
    trimmed, report = _check(model, (10, 2))
    assert trimmed.get_layer("a").filters == 2
    assert trimmed.get_layer("b").filters == 1
    assert [e.unused_filters for e in report.layers[:2]] == [(1,), (1,)]


def test_channel_read_by_a_layer_trim_does_not_understand_is_kept():
    inputs = keras.Input((10, 2))
    x = L.Conv1D(3, 3, name="c1")(inputs)
    y = L.Conv1D(2, 3, name="c2")(x)
    z = L.LSTM(2, name="lstm")(x)
    model = keras.Model(inputs, L.Concatenate()([L.GlobalAveragePooling1D()(y), z]))
    _randomize(model, c2=[0])
    trimmed, _ = _check(model, (10, 2))
    assert trimmed.get_layer("c1").filters == 3
