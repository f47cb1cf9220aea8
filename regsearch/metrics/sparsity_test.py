import keras
import numpy as np
import pytest

from regsearch.layers import TopK
from regsearch.metrics import ActiveOutputs, SparsityViolation

Y = np.array(
    [[0.0, 0.3, 0.9, 0.0], [0.0, 0.0, 0.2, 0.0], [0.1, -0.2, 0.3, 1e-7], [0.0, 0.0, 0.0, 0.0]],
    "float32",
)  # active per sample: 2, 1, 3, 0


def _result(metric):
    return float(keras.ops.convert_to_numpy(metric.result()))


def test_active_outputs_hand_checked():
    m = ActiveOutputs()
    m.update_state(None, Y)
    assert _result(m) == pytest.approx((2 + 1 + 3 + 0) / 4)


def test_tol_decides_what_is_active():
    m = ActiveOutputs(tol=0.25)
    m.update_state(None, Y)
    assert _result(m) == pytest.approx((2 + 0 + 1 + 0) / 4)
    m = ActiveOutputs(tol=0.0)
    m.update_state(None, Y)
    assert _result(m) == pytest.approx((2 + 1 + 4 + 0) / 4)


def test_sparsity_violation_hand_checked():
    for k, expected in [(1, 2 / 4), (2, 1 / 4), (3, 0.0)]:
        m = SparsityViolation(k)
        m.update_state(None, Y)
        assert _result(m) == pytest.approx(expected)


def test_states_average_over_batches_of_different_sizes_and_reset():
    active, violation = ActiveOutputs(), SparsityViolation(1)
    for metric in (active, violation):
        metric.update_state(None, Y[:1])
        metric.update_state(None, Y[1:])
    assert _result(active) == pytest.approx(6 / 4)
    assert _result(violation) == pytest.approx(2 / 4)
    active.reset_state()
    active.update_state(None, Y[1:2])
    assert _result(active) == pytest.approx(1.0)


def test_sample_weight_gives_weighted_mean():
    m = ActiveOutputs()
    m.update_state(None, Y, sample_weight=np.array([1.0, 0.0, 3.0, 0.0]))
    assert _result(m) == pytest.approx((2 * 1 + 3 * 3) / 4)


def test_higher_rank_counts_all_outputs_of_a_sample():
    m = ActiveOutputs()
    m.update_state(None, Y.reshape(2, 2, 4))
    assert _result(m) == pytest.approx((3 + 3) / 2)


def test_one_output_per_sample():
    m = ActiveOutputs()
    m.update_state(None, np.array([0.0, 0.5, 0.2, 0.0], "float32"))
    assert _result(m) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: ActiveOutputs(tol=-1e-3), ValueError, r"`tol`.*-0\.001"),
        (lambda: ActiveOutputs(tol="x"), TypeError, r"`tol`"),
        (lambda: SparsityViolation(0), ValueError, r"`k`.*received 0"),
        (lambda: SparsityViolation(1.5), TypeError, r"`k`.*1\.5"),
        (lambda: SparsityViolation(2, tol=-1.0), ValueError, r"`tol`"),
    ],
)
def test_bad_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_config_round_trip():
    for metric in (ActiveOutputs(tol=0.01, name="act"), SparsityViolation(3, tol=0.1)):
        restored = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(metric)
        )
        assert type(restored) is type(metric)
        assert restored.get_config() == metric.get_config()


def _model(constrained):
    layers = [keras.Input((6,)), keras.layers.Dense(8, activation="sigmoid")]
    if constrained:
        layers.append(TopK(2))
    model = keras.Sequential(layers)
    model.compile(
        optimizer="adam",
        loss="binary_crossentropy",
        metrics=[ActiveOutputs(), SparsityViolation(2)],
    )
    return model


def test_logged_during_fit_with_validation():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 6)).astype("float32"), (rng.uniform(size=(50, 8)) > 0.8) * 1.0
    logs = _model(True).fit(x, y, validation_split=0.2, batch_size=16, epochs=1, verbose=0)
    assert logs.history["active_outputs"] == [pytest.approx(2.0)]
    assert logs.history["val_active_outputs"] == [pytest.approx(2.0)]
    assert logs.history["val_sparsity_violation"] == [pytest.approx(0.0)]
    logs = _model(False).fit(x, y, validation_split=0.2, batch_size=16, epochs=1, verbose=0)
    assert logs.history["val_active_outputs"] == [pytest.approx(8.0)]
    assert logs.history["val_sparsity_violation"] == [pytest.approx(1.0)]


def test_keras_round_trip_of_compiled_metrics(tmp_path):
    model = _model(True)
    x = np.random.default_rng(1).normal(size=(20, 6)).astype("float32")
    y = np.zeros((20, 8), "float32")
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "metrics.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    scores = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert scores["active_outputs"] == pytest.approx(2.0)
    assert scores["sparsity_violation"] == pytest.approx(0.0)
