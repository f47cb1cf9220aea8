import keras
import numpy as np
import pytest
from keras import ops

import regsearch
from regsearch.layers import CrossLayer
from regsearch.regularizers import GroupLasso
from tests._autodiff import gradient


@keras.saving.register_keras_serializable(package="regsearch_test")
class FlatOrthogonal(keras.regularizers.Regularizer):
    """Test-local orthogonality penalty for kernels of any rank (filters last)."""

    def __init__(self, factor=1.0):
        self.factor = factor
        self._inner = keras.regularizers.OrthogonalRegularizer(factor, mode="columns")

    def __call__(self, x):
        return self._inner(ops.reshape(x, (-1, x.shape[-1])))

    def get_config(self):
        return {"factor": self.factor}


@keras.saving.register_keras_serializable(package="regsearch_test")
def registered_l1(weight):
    return 0.1 * ops.sum(ops.abs(weight))


def unregistered_l1(weight):
    return 0.1 * ops.sum(ops.abs(weight))


def _two_dense():
    inputs = keras.Input((4,), name="x")
    a = keras.layers.Dense(2, name="dense_a")(inputs)
    b = keras.layers.Dense(3, name="dense_b")(inputs)
    out = keras.layers.Concatenate(name="concat")([a, b])
    out = keras.layers.Dense(1, name="head")(out)
    return keras.Model(inputs, out)


def _ten_filters():
    """Ten 1x1 filters, each its own Conv2D layer so that some can be frozen."""
    inputs = keras.Input((3, 3, 16), name="image")
    parts = [keras.layers.Conv2D(1, 1, name=f"filter_{i}")(inputs) for i in range(10)]
    outputs = keras.layers.Concatenate(name="filters")(parts)
    return keras.Model(inputs, outputs)


def _x(shape=(4, 4)):
    return np.random.default_rng(0).normal(size=shape).astype("float32")


def test_penalty_equals_regularizer_of_concatenated_kernels_and_appears_once():
    model = _two_dense()
    reg = keras.regularizers.L2(0.3)
    new = regsearch.apply(model, cross_layer=[CrossLayer("dense_*", reg)])
    new(_x())
    assert len(new.losses) == 1
    kernels = np.concatenate(
        [new.get_layer("dense_a").kernel.numpy(), new.get_layer("dense_b").kernel.numpy()], -1
    )
    np.testing.assert_allclose(float(new.losses[0]), 0.3 * np.sum(kernels**2), rtol=1e-6)
    new(_x())
    assert len(new.losses) == 1  # recomputed on each call, not accumulated
    np.testing.assert_allclose(new.predict(_x(), verbose=0), model.predict(_x(), verbose=0))


def test_penalty_is_counted_once_in_the_training_loss():
    model = regsearch.apply(_two_dense(), cross_layer=[CrossLayer("dense_*", "l2")])
    model.compile(loss="mse")
    x, y = _x(), np.zeros((4, 1), "float32")
    model(x)
    penalty = float(model.losses[0])
    mse = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), mse + penalty, rtol=1e-5)


def test_sequential_given_cross_layer_becomes_functional():
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="d1"), keras.layers.Dense(3, name="d2")]
    )
    new = regsearch.apply(model, cross_layer=CrossLayer(["d1", "d2"], "l1", axis=0))
    assert not isinstance(new, keras.Sequential)
    new(_x())
    kernels = np.concatenate([new.get_layer("d1").kernel.numpy(), new.get_layer("d2").kernel], 0)
    np.testing.assert_allclose(float(new.losses[0]), 0.01 * np.abs(kernels).sum(), rtol=1e-6)


def test_ten_split_filters_some_frozen_with_one_orthogonality_penalty():
    model = _ten_filters()
    new = regsearch.apply(
        model,
        cross_layer=[CrossLayer("filter_*", FlatOrthogonal(1.0))],
        freeze={"filter_[0-4]": [0]},
    )
    cross = new.get_layer("cross_layer")
    assert [layer.name for layer in cross.bound_layers] == [f"filter_{i}" for i in range(10)]
    x = np.random.default_rng(0).normal(size=(8, 3, 3, 16)).astype("float32")
    new(x)
    assert len(new.losses) == 1
    kernels = np.concatenate([new.get_layer(f"filter_{i}").kernel.numpy() for i in range(10)], -1)
    expected = FlatOrthogonal(1.0)(kernels)
    np.testing.assert_allclose(float(new.losses[0]), float(expected), rtol=1e-5)

    before = [new.get_layer(f"filter_{i}").get_weights() for i in range(10)]
    new.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    new.fit(x, np.zeros((8, 3, 3, 10), "float32"), epochs=5, batch_size=8, verbose=0)
    for i in range(10):
        after = new.get_layer(f"filter_{i}").get_weights()
        if i < 5:
            for a, b in zip(before[i], after, strict=True):
                np.testing.assert_array_equal(a, b)
        else:
            assert not np.array_equal(before[i][0], after[0])
    new(x)
    assert float(new.losses[0]) < float(expected)


def test_cross_layer_round_trip_rebinds_without_custom_objects(tmp_path):
    new = regsearch.apply(
        _two_dense(),
        cross_layer=[CrossLayer("dense_*", keras.regularizers.OrthogonalRegularizer(0.5))],
    )
    x = _x()
    new(x)
    path = tmp_path / "cross.keras"
    new.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), new.predict(x, verbose=0))
    loaded(x)
    new(x)
    assert len(loaded.losses) == 1
    np.testing.assert_allclose(float(loaded.losses[0]), float(new.losses[0]), rtol=1e-6)
    bound = loaded.get_layer("cross_layer").bound_layers
    assert bound == (loaded.get_layer("dense_a"), loaded.get_layer("dense_b"))


def test_cross_layer_has_no_weights_and_does_not_track_bound_layers():
    new = regsearch.apply(_two_dense(), cross_layer=[CrossLayer("dense_*", "l2")])
    cross = new.get_layer("cross_layer")
    assert cross.weights == []
    assert len(new.weights) == len(_two_dense().weights)


def test_two_cross_layers_get_distinct_names():
    new = regsearch.apply(
        _two_dense(),
        cross_layer=[CrossLayer("head", "l2"), CrossLayer(["dense_a", "dense_b"], "l1")],
    )
    assert [layer.name for layer in new.layers[-2:]] == ["cross_layer", "cross_layer_1"]
    new(_x())
    assert len(new.losses) == 2


def test_kernels_that_cannot_be_concatenated_are_a_clear_error():
    with pytest.raises(ValueError, match=r"shapes \[\(4, 3\), \(5, 1\)\].*axis 0"):
        regsearch.apply(_two_dense(), cross_layer=[CrossLayer(["dense_b", "head"], "l1", axis=0)])


def test_bad_cross_layer_arguments():
    with pytest.raises(ValueError, match=r"`regularizer` must name"):
        CrossLayer("dense_*", None)
    with pytest.raises(ValueError, match="Did you mean"):
        CrossLayer("dense_*", "l22")
    with pytest.raises(TypeError, match="`layers`"):
        CrossLayer(3, "l2")
    with pytest.raises(ValueError, match=r"`cross_layer`.*without a kernel.*concat"):
        regsearch.apply(_two_dense(), cross_layer=[CrossLayer("*", "l2")])
    with pytest.raises(ValueError, match="matches no layer"):
        regsearch.apply(_two_dense(), cross_layer=[CrossLayer("conv*", "l2")])
    with pytest.raises(ValueError, match="must be called on a list"):
        CrossLayer("d", "l2")(keras.Input((3,)))
    with pytest.raises(ValueError, match="does not match"):
        inputs = keras.Input((3,))
        CrossLayer("d", "l2")([inputs, keras.layers.Dense(2, name="e")(inputs)])


def test_a_registered_function_round_trips(tmp_path):
    new = regsearch.apply(_two_dense(), cross_layer=[CrossLayer("dense_*", registered_l1)])
    new(_x())
    new.save(tmp_path / "function.keras")
    loaded = keras.saving.load_model(tmp_path / "function.keras")
    assert loaded.get_layer("cross_layer").regularizer is registered_l1
    loaded(_x())
    np.testing.assert_allclose(float(loaded.losses[0]), float(new.losses[0]), rtol=1e-6)


def test_an_unregistered_function_follows_keras_rules(tmp_path):
    """Keras saves an unregistered function by name; loading it needs ``custom_objects``."""
    new = regsearch.apply(_two_dense(), cross_layer=[CrossLayer("dense_*", unregistered_l1)])
    new(_x())
    path = tmp_path / "function.keras"
    new.save(path)
    with pytest.raises(TypeError, match="could not be deserialized"):
        keras.saving.load_model(path)
    loaded = keras.saving.load_model(path, custom_objects={"unregistered_l1": unregistered_l1})
    assert loaded.get_layer("cross_layer").regularizer is unregistered_l1


def test_flatten_gives_the_coupled_group_norm_of_kernels_of_any_shape(tmp_path):
    inputs = keras.Input((6, 6, 2))
    stem = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    last = keras.layers.Conv2D(4, 1, name="last")(keras.layers.ReLU()(stem))
    model = keras.Model(inputs, keras.layers.Add()([stem, last]))
    spec = regsearch.CrossLayer(["stem", "last"], GroupLasso(0.1), flatten=True)
    new = regsearch.apply(model, cross_layer=[spec])
    x = np.ones((1, 6, 6, 2), "float32")
    _ = new(x)
    kernels = [keras.ops.convert_to_numpy(new.get_layer(n).kernel) for n in ("stem", "last")]
    rows = np.concatenate([k.reshape(-1, 4) for k in kernels])  # one column per channel
    expected = float(keras.ops.convert_to_numpy(GroupLasso(0.1)(rows)))
    assert float(keras.ops.convert_to_numpy(new.losses[0])) == pytest.approx(expected, rel=1e-5)
    path = tmp_path / "coupled.keras"
    new.save(path)
    loaded = keras.saving.load_model(path)
    _ = loaded(x)
    cross = next(layer for layer in loaded.layers if isinstance(layer, regsearch.CrossLayer))
    assert cross.flatten is True
    assert float(keras.ops.convert_to_numpy(loaded.losses[0])) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="cannot be concatenated"):
        regsearch.apply(
            model, cross_layer=[regsearch.CrossLayer(["stem", "last"], "l2", axis=-2, flatten=True)]
        )


def test_coupled_group_norm_gradient_reaches_every_kernel_of_the_group():
    inputs = keras.Input((6, 6, 2))
    stem = keras.layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    last = keras.layers.Conv2D(4, 1, name="last")(keras.layers.ReLU()(stem))
    model = keras.Model(inputs, keras.layers.Add()([stem, last]))
    spec = CrossLayer(["stem", "last"], GroupLasso(0.1), flatten=True)
    new = regsearch.apply(model, cross_layer=[spec])
    cross = next(layer for layer in new.layers if isinstance(layer, CrossLayer))
    variables = [new.get_layer(n).kernel for n in ("stem", "last")]
    shapes = [tuple(v.shape) for v in variables]
    rng = np.random.default_rng(0)
    kernels = [rng.normal(size=shape).astype("float32") for shape in shapes]
    for kernel in kernels:
        kernel[..., 0] = 0.0  # channel 0 is empty in every member: a finite gradient
    flat = np.concatenate([k.ravel() for k in kernels])
    split = kernels[0].size

    def penalty(values):
        parts = (values[:split], values[split:])
        mapping = [(v, ops.reshape(p, s)) for v, p, s in zip(variables, parts, shapes)]
        with keras.StatelessScope(state_mapping=mapping):
            return cross.penalty()

    stacked = np.concatenate([k.reshape(-1, 4) for k in kernels])
    expected = gradient(GroupLasso(0.1), stacked)  # one group per channel, over both kernels
    got = gradient(penalty, flat)
    np.testing.assert_allclose(got[:split].reshape(-1, 4), expected[: split // 4], rtol=1e-5)
    np.testing.assert_allclose(got[split:].reshape(-1, 4), expected[split // 4 :], rtol=1e-5)
    assert np.all(np.isfinite(got)) and np.all(got.reshape(-1, 4)[:, 0] == 0.0)
    assert np.all(got.reshape(-1, 4)[:, 1:] != 0.0)
