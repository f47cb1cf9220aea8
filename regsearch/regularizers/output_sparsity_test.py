import keras
import numpy as np
import pytest

from regsearch import regularizers
from regsearch.regularizers import OutputSparsity
from tests._autodiff import gradient


def _value(regularizer, x):
    return float(keras.ops.convert_to_numpy(regularizer(keras.ops.convert_to_tensor(x))))


def test_penalty_is_mass_outside_the_k_largest_summed_over_batch():
    x = np.array([[0.9, -0.5, 0.2, 0.1], [0.0, 0.0, 0.3, -0.4]], "float32")
    # Row 1: |0.2| + |0.1| = 0.3 outside the two largest; row 2: 0.
    assert _value(OutputSparsity(2, 1.0), x) == pytest.approx(0.3)
    assert _value(OutputSparsity(2, 0.5), x) == pytest.approx(0.15)
    assert _value(OutputSparsity(1, 1.0), x) == pytest.approx(0.8 + 0.3)


def test_zero_when_at_most_k_outputs_are_nonzero_or_k_covers_all():
    x = np.array([[0.0, 3.0, 0.0, -1.0]], "float32")
    assert _value(OutputSparsity(2, 1.0), x) == 0.0
    assert _value(OutputSparsity(4, 1.0), np.ones((3, 4), "float32")) == 0.0
    assert _value(OutputSparsity(9, 1.0), np.ones((3, 4), "float32")) == 0.0


def test_rank_3_selects_along_last_axis_per_position():
    x = np.array([[[1.0, 2.0, 3.0], [0.5, 0.0, 0.0]]], "float32")
    assert _value(OutputSparsity(1, 1.0), x) == pytest.approx(3.0)


def test_gradient_pushes_only_the_outputs_outside_the_k_largest():
    grad = gradient(OutputSparsity(2, 2.0), [[0.9, -0.5, 0.2, -0.1]])
    np.testing.assert_allclose(grad, [[0.0, 0.0, 2.0, -2.0]])


def test_keras_divides_the_activity_penalty_by_batch_size():
    layer = keras.layers.Dense(
        4,
        use_bias=False,
        kernel_initializer="identity",
        activity_regularizer=OutputSparsity(2, 1.0),
    )
    x = np.tile(np.array([[0.9, -0.5, 0.2, 0.1]], "float32"), (8, 1))
    layer(x)
    assert float(keras.ops.convert_to_numpy(layer.losses[0])) == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((0, 0.1), ValueError, r"`k`.*received 0"),
        ((2.0, 0.1), TypeError, r"`k`.*2\.0"),
        ((2, -0.1), ValueError, r"`strength`.*-0\.1"),
        ((2, "x"), TypeError, r"`strength`"),
    ],
)
def test_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        OutputSparsity(*args)


def test_resolved_by_name_and_config():
    assert isinstance(regularizers.get("output_sparsity"), OutputSparsity)
    assert isinstance(regularizers.get("OutputSparsity"), OutputSparsity)
    original = OutputSparsity(3, 0.25)
    restored = regularizers.get(regularizers.serialize(original))
    assert restored.get_config() == {"k": 3, "strength": 0.25}


def test_keras_round_trip_without_custom_objects(tmp_path):
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(
                8, activation="sigmoid", activity_regularizer=OutputSparsity(2, 0.1)
            ),
        ]
    )
    x = np.random.default_rng(0).normal(size=(6, 5)).astype("float32")
    path = tmp_path / "output_sparsity.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    regularizer = loaded.layers[-1].activity_regularizer
    assert isinstance(regularizer, OutputSparsity)
    assert regularizer.get_config() == {"k": 2, "strength": 0.1}
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def _outside_mass(model, x):
    y = np.abs(model.predict(x, verbose=0))
    return float(np.mean(np.sum(y, axis=1) - np.sum(np.sort(y, axis=1)[:, -2:], axis=1)))


def test_training_with_the_penalty_shrinks_the_mass_outside_top_k():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6)).astype("float32")
    y = rng.uniform(size=(256, 8)).astype("float32")

    def fit(strength):
        keras.utils.set_random_seed(0)
        reg = OutputSparsity(2, strength) if strength else None
        model = keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(8, activity_regularizer=reg)]
        )
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
        model.fit(x, y, epochs=5, batch_size=64, verbose=0)
        return model

    penalised, free = _outside_mass(fit(1.0), x), _outside_mass(fit(0.0), x)
    assert penalised < 0.5 * free
