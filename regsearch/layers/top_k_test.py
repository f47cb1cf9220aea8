import keras
import numpy as np
import pytest

from regsearch.layers import TopK
from tests._autodiff import gradient


def _expected_top_k(x, k, axis=-1, by="value"):
    """Reference: keep the k largest along axis (stable, lowest index wins on ties)."""
    scores = np.abs(x) if by == "abs" else x
    order = np.argsort(-scores, axis=axis, kind="stable")
    ranks = np.argsort(order, axis=axis, kind="stable")
    return np.where(ranks < k, x, 0.0).astype(x.dtype)


@pytest.mark.parametrize("batch", [1, 32, 1000])
def test_keeps_exactly_the_k_largest_per_row(batch):
    x = np.random.default_rng(batch).uniform(0.1, 1.0, size=(batch, 8)).astype("float32")
    y = keras.ops.convert_to_numpy(TopK(3)(x))
    assert y.shape == x.shape
    np.testing.assert_array_equal(np.count_nonzero(y, axis=1), np.full(batch, 3))
    np.testing.assert_array_equal(y, _expected_top_k(x, 3))


@pytest.mark.parametrize("batch", [1, 32, 1000])
def test_any_batch_size_inside_a_compiled_model(batch):
    model = keras.Sequential([keras.Input((8,)), TopK(2)])
    x = np.random.default_rng(0).normal(size=(batch, 8)).astype("float32")
    y = model.predict(x, batch_size=batch, verbose=0)
    np.testing.assert_array_equal(y, _expected_top_k(x, 2))


def test_by_abs_keeps_largest_magnitudes_with_their_sign():
    x = np.array([[0.5, -3.0, 1.0, 2.0], [-0.1, 0.2, -0.3, 0.05]], "float32")
    y = keras.ops.convert_to_numpy(TopK(2, by="abs")(x))
    np.testing.assert_array_equal(y, np.where([[0, 1, 0, 1], [0, 1, 1, 0]], x, 0))


@pytest.mark.parametrize("axis", [-1, 1, 2, -2])
def test_rank_3_selects_per_position(axis):
    x = np.random.default_rng(1).normal(size=(4, 5, 6)).astype("float32")
    y = keras.ops.convert_to_numpy(TopK(2, axis=axis)(x))
    np.testing.assert_array_equal(y, _expected_top_k(x, 2, axis=axis))
    assert np.all(np.count_nonzero(y, axis=axis) == 2)


def test_rank_3_in_functional_model_with_unknown_time_steps():
    inputs = keras.Input((None, 6))
    outputs = TopK(1)(keras.layers.Dense(6)(inputs))
    model = keras.Model(inputs, outputs)
    assert tuple(outputs.shape) == (None, None, 6)
    y = model.predict(np.ones((3, 7, 6), "float32"), verbose=0)
    assert np.all(np.count_nonzero(y, axis=-1) <= 1)


def test_ties_keep_exactly_k_lowest_index_first():
    x = np.array(
        [[1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 2.0, 2.0, 2.0, 1.0], [3.0, 0.0, 0.0, 0.0, 0.5]],
        "float32",
    )
    y = keras.ops.convert_to_numpy(TopK(2)(x))
    np.testing.assert_array_equal(
        y, [[1.0, 1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 2.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0, 0.5]]
    )
    ones = keras.ops.convert_to_numpy(TopK(3)(np.ones((4, 6), "float32")))
    np.testing.assert_array_equal(ones, np.tile([1, 1, 1, 0, 0, 0], (4, 1)))


def test_ties_by_abs_between_signs():
    y = keras.ops.convert_to_numpy(TopK(1, by="abs")(np.array([[-2.0, 2.0, 1.0]], "float32")))
    np.testing.assert_array_equal(y, [[-2.0, 0.0, 0.0]])


def test_threshold_makes_it_at_most_k():
    x = np.array([[0.9, 0.1, -0.5, 0.0], [0.2, 0.3, 0.4, 0.5]], "float32")
    y = keras.ops.convert_to_numpy(TopK(3, threshold=0.25)(x))
    np.testing.assert_array_equal(y, np.where([[1, 0, 0, 0], [0, 1, 1, 1]], x, 0))


@pytest.mark.parametrize("k", [4, 10])
def test_k_at_or_above_size_is_identity(k):
    x = np.random.default_rng(2).normal(size=(5, 4)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(TopK(k)(x)), x)


def test_gradient_is_one_through_kept_entries_and_zero_elsewhere():
    x = np.random.default_rng(3).normal(size=(32, 7)).astype("float32")
    grad = gradient(TopK(3, by="abs"), x)
    kept = _expected_top_k(x, 3, by="abs") != 0
    np.testing.assert_array_equal(grad, kept.astype("float32"))


def test_compute_output_shape_and_symbolic_call():
    layer = TopK(2, axis=1)
    assert layer.compute_output_shape((None, 5, 3)) == (None, 5, 3)
    assert tuple(layer(keras.Input((5, 3))).shape) == (None, 5, 3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k": 0}, ValueError, r"`k`.*received 0"),
        ({"k": -2}, ValueError, r"`k`.*received -2"),
        ({"k": 2.0}, TypeError, r"`k`.*2\.0"),
        ({"k": "2"}, TypeError, r"`k`.*'2'"),
        ({"k": 2, "by": "max"}, ValueError, r"`by`.*'max'"),
        ({"k": 2, "by": "ab"}, ValueError, r"Did you mean 'abs'"),
        ({"k": 2, "axis": 1.5}, TypeError, r"`axis`.*1\.5"),
        ({"k": 2, "threshold": "x"}, TypeError, r"`threshold`"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        TopK(**kwargs)


@pytest.mark.parametrize("axis", [2, -3, 0, 5])
def test_axis_out_of_range_or_batch_axis_fails_in_build(axis):
    with pytest.raises(ValueError, match=rf"`axis`: received {axis}"):
        TopK(1, axis=axis)(keras.Input((4,)))


def test_unknown_size_along_axis_fails_in_build():
    with pytest.raises(ValueError, match="known size"):
        TopK(1, axis=1)(keras.Input((None, 4)))


def test_config_round_trip():
    layer = TopK(3, axis=-2, by="abs", threshold=0.1, name="tk")
    clone = TopK.from_config(layer.get_config())
    assert (clone.k, clone.axis, clone.by, clone.threshold, clone.name) == (3, -2, "abs", 0.1, "tk")


def test_keras_round_trip_without_custom_objects(tmp_path):
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8), TopK(2, by="abs", threshold=0.01)]
    )
    x = np.random.default_rng(4).normal(size=(10, 6)).astype("float32")
    path = tmp_path / "topk.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[-1], TopK)
    assert loaded.layers[-1].get_config() == model.layers[-1].get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def _multilabel_problem(n, seed=0):
    """8 labels, at most 2 positive per sample, a learnable function of 16 features."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16)).astype("float32")
    logits = x @ np.random.default_rng(99).normal(size=(16, 8))
    top2 = _expected_top_k(logits, 2)
    y = ((top2 != 0) & (logits > 2.0)).astype("float32")
    return x, y


def _micro_f1(y_true, y_prob):
    y_pred = y_prob > 0.5
    tp = np.sum(y_pred & (y_true == 1))
    return 2 * tp / (np.sum(y_pred) + np.sum(y_true))


def _fit_multilabel(constrained, x, y):
    keras.utils.set_random_seed(0)
    layers = [keras.Input((16,)), keras.layers.Dense(32, activation="relu")]
    layers.append(keras.layers.Dense(8, activation="sigmoid"))
    if constrained:
        layers.append(TopK(2))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    model.fit(x, y, epochs=15, batch_size=64, verbose=0)
    return model


@pytest.mark.slow
def test_multilabel_top2_matches_unconstrained_f1():
    # The batch-size-1 bug of the usual `tf.sort(tf.squeeze(x))` answer would show here:
    # training and prediction run on batches of 64 and 32.
    x, y = _multilabel_problem(3000)
    assert y.sum(axis=1).max() <= 2 and y.sum() > 0
    x_train, y_train, x_test, y_test = x[:2000], y[:2000], x[2000:], y[2000:]
    free = _fit_multilabel(False, x_train, y_train).predict(x_test, verbose=0)
    topk = _fit_multilabel(True, x_train, y_train).predict(x_test, verbose=0)
    assert np.count_nonzero(topk, axis=1).max() <= 2
    f1_free, f1_topk = _micro_f1(y_test, free), _micro_f1(y_test, topk)
    assert f1_free > 0.7
    assert abs(f1_topk - f1_free) <= 0.05
