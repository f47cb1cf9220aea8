import copy
import math

import keras
import numpy as np
import pytest

import regsearch
from regsearch.regularizers import Growing, KernelExtent, StructuredSparsity, get
from tests._autodiff import gradient


def test_multiplicative_schedule_is_capped_at_the_ceiling():
    penalty = Growing("l2", start=0.1, growth=2.0)
    assert [penalty.multiplier_at(e) for e in range(6)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    )
    assert penalty.multiplier_at(10**6) == 1.0  # no overflow of growth ** epoch
    higher = Growing("l2", start=0.5, growth=3.0, ceiling=4.0)
    assert [higher.multiplier_at(e) for e in range(4)] == pytest.approx([0.5, 1.5, 4.0, 4.0])


def test_linear_schedule_adds_growth_per_epoch():
    penalty = Growing("l2", start=0.2, growth=0.3, schedule="linear")
    assert [penalty.multiplier_at(e) for e in range(5)] == pytest.approx([0.2, 0.5, 0.8, 1.0, 1.0])


def test_set_epoch_changes_the_multiplier_and_says_whether_it_did():
    penalty = Growing("l2", start=0.25, growth=2.0)
    assert penalty.current() == 0.25
    assert penalty.set_epoch(0) is False
    assert penalty.set_epoch(1) is True
    assert penalty.current() == 0.5
    assert penalty.set_epoch(1) is False


@pytest.mark.parametrize(
    "inner", [StructuredSparsity(0.1), KernelExtent(0.2), keras.regularizers.L2(0.01)]
)
def test_value_and_gradient_are_the_multiplier_times_the_wrapped_ones(inner):
    kernel = np.random.default_rng(0).normal(size=(3, 3, 2, 4)).astype("float32")
    penalty = Growing(inner, start=0.3, growth=2.0)
    np.testing.assert_allclose(float(penalty(kernel)), 0.3 * float(inner(kernel)), rtol=1e-6)
    np.testing.assert_allclose(
        gradient(penalty, kernel), 0.3 * gradient(inner, kernel), rtol=1e-5, atol=1e-8
    )
    penalty.set_epoch(1)
    np.testing.assert_allclose(float(penalty(kernel)), 0.6 * float(inner(kernel)), rtol=1e-6)
    np.testing.assert_allclose(
        gradient(penalty, kernel), 0.6 * gradient(inner, kernel), rtol=1e-5, atol=1e-8
    )


def test_resolves_the_wrapped_regularizer_like_get():
    assert type(Growing().regularizer) is StructuredSparsity  # the default
    assert type(Growing("kernel_extent").regularizer) is KernelExtent
    config = keras.saving.serialize_keras_object(StructuredSparsity(0.5))
    assert Growing(config).regularizer.strength == 0.5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"regularizer": None}, ValueError, r"`regularizer`.*None"),
        ({"regularizer": "structured_sparsty"}, ValueError, r"Did you mean 'structured_sparsity'"),
        ({"regularizer": Growing()}, ValueError, r"`regularizer` must not be a Growing"),
        ({"start": 0.0}, ValueError, r"`start` must be > 0.0; received 0.0"),
        ({"growth": 1.0}, ValueError, r"`growth` must be > 1 .*received 1.0.*'linear'"),
        ({"growth": -1.0}, ValueError, r"`growth` must be > 0.0; received -1.0"),
        ({"schedule": "linaer"}, ValueError, r"`schedule`.*'linaer'.*Did you mean 'linear'"),
        ({"ceiling": 0.05}, ValueError, r"`ceiling` must be >= `start` \(0.1\); received 0.05"),
        ({"multiplier": 0.0}, ValueError, r"`multiplier` must be > 0.0; received 0.0"),
        ({"start": "big"}, TypeError, r"`start` must be a real number; received 'big'"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        Growing(**kwargs)


def test_linear_schedule_accepts_a_growth_below_one():
    assert Growing("l1", growth=0.1, schedule="linear").growth == 0.1


def test_config_round_trip_keeps_the_multiplier():
    penalty = Growing(StructuredSparsity(0.02, shape=0.0), start=0.1, growth=1.5, ceiling=2.0)
    penalty.set_epoch(2)
    config = penalty.get_config()
    assert config["multiplier"] == 0.225
    assert {k: v for k, v in config.items() if k != "regularizer"} == {
        "start": 0.1,
        "growth": 1.5,
        "schedule": "multiplicative",
        "ceiling": 2.0,
        "multiplier": 0.225,
    }
    again = Growing.from_config(config)
    assert again.get_config() == config
    assert again.multiplier is not penalty.multiplier
    kernel = np.random.default_rng(1).normal(size=(3, 3, 2, 4)).astype("float32")
    assert float(again(kernel)) == pytest.approx(float(penalty(kernel)))
    restored = get(keras.saving.serialize_keras_object(penalty))
    assert type(restored) is Growing
    assert restored.get_config() == config
    assert type(get("growing")) is Growing


def test_copies_get_their_own_multiplier():
    penalty = Growing("l2", start=0.1, growth=2.0)
    twin = copy.deepcopy(penalty)
    twin.set_epoch(3)
    assert penalty.current() == 0.1
    assert twin.current() == 0.8


def test_keras_round_trip(keras_round_trip):
    penalty = Growing(StructuredSparsity(0.01), start=0.1, growth=2.0)
    penalty.set_epoch(2)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 5, kernel_regularizer=penalty),
            keras.layers.Conv2D(4, 3, kernel_regularizer=Growing(KernelExtent(0.1))),
            keras.layers.Flatten(),
            keras.layers.Dense(2, kernel_regularizer=Growing("l2", schedule="linear")),
        ]
    )
    loaded = keras_round_trip(model, np.ones((2, 8, 8, 1), "float32"))
    restored = loaded.layers[0].kernel_regularizer
    assert isinstance(restored, Growing)
    assert restored.current() == pytest.approx(0.4)


def test_apply_attaches_a_private_copy_to_each_layer():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, name="conv_a"),
            keras.layers.Conv2D(4, 3, name="conv_b"),
        ]
    )
    penalty = Growing(StructuredSparsity(1e-3), growth=2.0)
    new = regsearch.apply(model, kernel={"conv_*": penalty})
    attached = [new.get_layer(n).kernel.regularizer for n in ("conv_a", "conv_b")]
    assert all(isinstance(p, Growing) for p in attached)
    assert len({id(p.multiplier) for p in [penalty, *attached]}) == 3
    attached[0].set_epoch(2)
    assert math.isclose(attached[1].current(), 0.1) and math.isclose(penalty.current(), 0.1)
