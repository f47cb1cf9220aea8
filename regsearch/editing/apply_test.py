import keras
import numpy as np
import pytest

import regsearch


def _sequential():
    return keras.Sequential(
        [
            keras.Input((6,), name="features"),
            keras.layers.Dense(5, activation="relu", name="dense_1"),
            keras.layers.Dense(4, activation="relu", name="dense_2"),
            keras.layers.Dense(2, name="out"),
        ],
        name="seq",
    )


def _branchy():
    inputs = keras.Input((6,), name="features")
    a = keras.layers.Dense(4, activation="relu", name="branch_a")(inputs)
    b = keras.layers.Dense(4, activation="tanh", name="branch_b")(inputs)
    added = keras.layers.Add(name="add")([a, b])
    c = keras.layers.Dense(3, name="branch_c")(inputs)
    merged = keras.layers.Concatenate(name="concat")([added, c])
    outputs = keras.layers.Dense(2, name="out")(merged)
    return keras.Model(inputs, outputs, name="branchy")


def _x(n=8):
    return np.random.default_rng(0).normal(size=(n, 6)).astype("float32")


def _snapshot(model):
    return model.to_json(), [w.copy() for w in model.get_weights()]


def _assert_unchanged(model, snapshot):
    config, weights = snapshot
    assert model.to_json() == config
    for before, after in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_sequential_stays_sequential_with_regularizers_and_same_predictions():
    model = _sequential()
    snapshot = _snapshot(model)
    new = regsearch.apply(model, kernel={"dense_*": "l2"}, bias={"out": keras.regularizers.L1(0.1)})
    assert isinstance(new, keras.Sequential)
    assert [layer.name for layer in new.layers] == ["dense_1", "dense_2", "out"]
    assert isinstance(new.get_layer("dense_1").kernel_regularizer, keras.regularizers.L2)
    assert new.get_layer("out").kernel_regularizer is None
    assert isinstance(new.get_layer("out").bias_regularizer, keras.regularizers.L1)
    assert len(new.losses) == 3
    np.testing.assert_allclose(new.predict(_x(), verbose=0), model.predict(_x(), verbose=0))
    _assert_unchanged(model, snapshot)
    assert all(layer.kernel_regularizer is None for layer in model.layers)


def test_user_regularizer_instance_is_not_shared_with_the_new_model():
    reg = keras.regularizers.L2(0.5)
    new = regsearch.apply(_sequential(), kernel={"dense_*": reg})
    first, second = new.get_layer("dense_1"), new.get_layer("dense_2")
    assert first.kernel_regularizer is not reg
    assert first.kernel_regularizer is not second.kernel_regularizer
    assert first.kernel_regularizer.l2 == pytest.approx(0.5)


def test_regularizer_configs_resolve_like_instances():
    config = keras.saving.serialize_keras_object(keras.regularizers.OrthogonalRegularizer(0.5))
    new = regsearch.apply(_sequential(), kernel={"dense_1": config})
    reg = new.get_layer("dense_1").kernel_regularizer
    assert isinstance(reg, keras.regularizers.OrthogonalRegularizer)
    assert float(reg.factor) == pytest.approx(0.5)


def test_functional_with_branches_keeps_graph_inputs_and_predictions():
    model = _branchy()
    snapshot = _snapshot(model)
    new = regsearch.apply(
        model,
        kernel={"branch_[ab]": "l1"},
        activity={"add": keras.regularizers.L2(0.01)},
        dropout={"branch_a": 0.5, "add": 0.25},
        noise={"branch_c": 0.3},
    )
    assert new.get_layer("branch_a_dropout").rate == 0.5
    assert new.get_layer("add_dropout").rate == 0.25
    assert new.get_layer("branch_c_noise").stddev == pytest.approx(0.3)
    # Each inserted layer consumes exactly the matched layer's output.
    assert new.get_layer("branch_a_dropout").input is new.get_layer("branch_a").output
    assert new.get_layer("add").input[0] is new.get_layer("branch_a_dropout").output
    assert new.get_layer("branch_c_noise").input is new.get_layer("branch_c").output
    # Dropout and noise are off at inference: predictions are unchanged.
    np.testing.assert_allclose(
        new.predict(_x(), verbose=0), model.predict(_x(), verbose=0), rtol=1e-6
    )
    assert not np.allclose(new(_x(), training=True), model(_x(), training=True))
    _assert_unchanged(model, snapshot)


def test_functional_keeps_input_layer_names():
    model = _branchy()
    new = regsearch.apply(model, kernel={"out": "l2"})
    assert [t.name for t in new.inputs] == [t.name for t in model.inputs]
    assert new.get_layer("features").batch_shape == (None, 6)


@pytest.mark.parametrize("cross_layer", [None, [regsearch.CrossLayer("out", "l2")]])
def test_non_trainable_layers_stay_non_trainable(cross_layer):
    model = _sequential()
    model.get_layer("dense_1").trainable = False
    new = regsearch.apply(model, dropout={"dense_2": 0.1}, cross_layer=cross_layer)
    assert not new.get_layer("dense_1").trainable
    assert new.get_layer("dense_2").trainable


def test_keep_weights_false_starts_from_fresh_weights():
    model = _sequential()
    new = regsearch.apply(model, kernel={"out": "l2"}, keep_weights=False)
    assert not np.allclose(new.get_layer("out").kernel, model.get_layer("out").kernel)


def test_insertion_into_sequential_keeps_it_sequential_and_names_unique():
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(3, name="d"),
            keras.layers.Dense(3, name="d_dropout"),
        ]
    )
    new = regsearch.apply(model, dropout={"d": 0.1}, noise={"d": 0.2})
    assert isinstance(new, keras.Sequential)
    assert [layer.name for layer in new.layers] == ["d", "d_noise", "d_dropout_1", "d_dropout"]


def test_layer_without_the_regularizer_is_a_clear_error():
    model = _branchy()
    with pytest.raises(ValueError, match=r"`kernel`.*'add'.*no `kernel_regularizer`.*branch_a"):
        regsearch.apply(model, kernel={"*": "l2"})
    # A weight-path pattern selects only layers that have a kernel.
    new = regsearch.apply(model, kernel={"*/kernel": "l2"})
    assert len(new.losses) == 4


def _conv_bn():
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.ReLU(name="relu"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(2, name="out"),
        ]
    )


def test_gamma_regularizers_go_on_batch_normalization():
    model = _conv_bn()
    new = regsearch.apply(model, gamma={"bn": "slimming"}, kernel={"conv": "l2"})
    reg = new.get_layer("bn").gamma_regularizer
    assert isinstance(reg, regsearch.regularizers.Slimming)
    assert model.get_layer("bn").gamma_regularizer is None
    assert len(new.losses) == 2
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 1)).astype("float32")
    np.testing.assert_allclose(new.predict(x, verbose=0), model.predict(x, verbose=0))
    # A weight-path pattern selects every layer that has a gamma.
    new = regsearch.apply(model, gamma={"*/gamma": regsearch.regularizers.Polarization(0.1)})
    assert new.get_layer("bn").gamma_regularizer.get_config() == {"strength": 0.1, "t": 1.2}


def test_gamma_on_a_layer_without_one_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match=r"`gamma`: layer 'conv' \(Conv2D\) has no `gamma_regularizer`.*\['bn'\].*\*/gamma",
    ):
        regsearch.apply(_conv_bn(), gamma={"*": "slimming"})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"gamma": {"bn": "slimmming"}}, ValueError, r"`gamma`, layer 'bn'.*'slimming'"),
        ({"gamma": "slimming"}, TypeError, r"`gamma` must be a mapping"),
        ({"gamma": {"nope": "slimming"}}, ValueError, r"'nope' matches no layer.*'bn'"),
    ],
)
def test_bad_gamma(kwargs, error, message):
    with pytest.raises(error, match=message):
        regsearch.apply(_conv_bn(), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"dropout": {"out": 1.0}}, ValueError, r"`dropout`.*\[0, 1\)"),
        ({"noise": {"out": -0.1}}, ValueError, r"noise\['out'\].*>= 0"),
        ({"kernel": {"out": "l1l2"}}, ValueError, r"`kernel`, layer 'out'.*Did you mean 'l1_l2'"),
        ({"kernel": {"nope": "l2"}}, ValueError, r"'nope' matches no layer.*'dense_1'"),
        ({"kernel": "l2"}, TypeError, r"`kernel` must be a mapping"),
        ({"cross_layer": ["x"]}, TypeError, r"regsearch.CrossLayer"),
        ({"keep_weights": 1}, TypeError, r"`keep_weights`"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        regsearch.apply(_sequential(), **kwargs)


def test_subclassed_model_is_a_type_error():
    class Sub(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="subclassed"):
        regsearch.apply(Sub(), dropout=None)


def test_keras_round_trip_of_applied_model(tmp_path):
    model = _branchy()
    new = regsearch.apply(
        model,
        kernel={"branch_*": "l2"},
        activity={"out": "l1"},
        dropout={"concat": 0.2},
        noise={"branch_a": 0.1},
        freeze={"out": [1]},
    )
    new(_x())
    path = tmp_path / "applied.keras"
    new.save(path)
    loaded = keras.saving.load_model(path)
    x = _x()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), new.predict(x, verbose=0))
    new(x)
    loaded(x)
    np.testing.assert_allclose(
        [float(v) for v in loaded.losses], [float(v) for v in new.losses], rtol=1e-6
    )
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in new.layers]


def test_top_k_is_appended_after_the_output():
    import numpy as np

    from regsearch.layers import TopK

    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, name="out")])
    constrained = regsearch.apply(model, top_k=2)
    assert isinstance(constrained.layers[-1], TopK)
    assert constrained.layers[-1].k == 2
    prediction = constrained.predict(np.random.default_rng(0).normal(size=(7, 6)), verbose=0)
    assert ((prediction != 0).sum(axis=1) <= 2).all()
    assert not any(isinstance(layer, TopK) for layer in model.layers)
    with pytest.raises(ValueError, match="`top_k` must be >= 1"):
        regsearch.apply(model, top_k=0)


def _mobilenet_style():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw")(inputs)
    x = keras.layers.SeparableConv2D(
        6, 3, padding="same", activation="relu", pointwise_regularizer="l2", name="sep"
    )(x)
    x = keras.layers.Conv2D(4, 1, activation="relu", name="pw")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x))


def test_kernel_plan_on_depthwise_and_separable_sets_the_depthwise_regularizer():
    model = _mobilenet_style()
    new = regsearch.apply(model, kernel={("dw", "sep", "pw"): "l1"})
    dw, sep, pw = (new.get_layer(name) for name in ("dw", "sep", "pw"))
    assert isinstance(dw.depthwise_regularizer, keras.regularizers.L1)
    assert isinstance(sep.depthwise_regularizer, keras.regularizers.L1)
    assert isinstance(sep.pointwise_regularizer, keras.regularizers.L2)  # the layer's own
    assert isinstance(pw.kernel_regularizer, keras.regularizers.L1)
    assert model.get_layer("dw").depthwise_regularizer is None
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(new.predict(x, verbose=0), model.predict(x, verbose=0))
    new(x)
    assert len(new.losses) == 4  # dw, sep depthwise, sep pointwise, pw
    with pytest.raises(ValueError, match=r"`freeze`: layer 'sep' is a SeparableConv2D"):
        regsearch.apply(model, freeze={"sep": [0]})


class _Unregistered(keras.regularizers.Regularizer):
    """Not registered with Keras; its config holds a Python object."""

    def __init__(self, scale):
        self.scale = {"value": scale}

    def __call__(self, x):
        return self.scale["value"] * keras.ops.sum(keras.ops.square(x))

    def get_config(self):
        return {"scale": self.scale["value"]}


class _NoConfig(keras.regularizers.Regularizer):
    def __call__(self, x):
        return 0.5 * keras.ops.sum(keras.ops.abs(x))


def _penalty(weight):
    return 0.1 * keras.ops.sum(keras.ops.abs(weight))


@pytest.mark.parametrize(
    ("regularizer", "expected"),
    [
        (_penalty, lambda k: 0.1 * np.abs(k).sum()),
        (_NoConfig(), lambda k: 0.5 * np.abs(k).sum()),
        (_Unregistered(0.2), lambda k: 0.2 * np.square(k).sum()),
    ],
)
def test_any_regularizer_keras_takes_works_in_apply(regularizer, expected):
    model = _sequential()
    new = regsearch.apply(model, kernel={"dense_1": regularizer}, bias={"out": regularizer})
    copied = new.get_layer("dense_1").kernel_regularizer
    if isinstance(regularizer, keras.regularizers.Regularizer):  # never shared with the user
        assert copied is not regularizer and vars(copied) == vars(regularizer)
    if isinstance(regularizer, _Unregistered):
        assert copied.scale is not regularizer.scale
    new(_x())
    kernel, bias = new.get_layer("dense_1").kernel.numpy(), new.get_layer("out").bias.numpy()
    np.testing.assert_allclose(
        sorted(float(v) for v in new.losses), sorted([expected(kernel), expected(bias)]), rtol=1e-5
    )
    new.compile(optimizer="adam", loss="mse")
    new.fit(_x(), np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    assert model.get_layer("dense_1").kernel_regularizer is None


def test_cross_layer_with_a_plain_function_and_an_unregistered_instance():
    for regularizer in (_penalty, _Unregistered(0.2)):
        new = regsearch.apply(_branchy(), cross_layer=regsearch.CrossLayer("branch_*", regularizer))
        new(_x())
        kernels = [new.get_layer(f"branch_{c}").kernel.numpy() for c in "abc"]
        assert new.layers[-1].regularizer is not regularizer or regularizer is _penalty
        expected = regularizer(keras.ops.concatenate(kernels, axis=-1))
        np.testing.assert_allclose(float(new.losses[0]), float(expected), rtol=1e-6)
