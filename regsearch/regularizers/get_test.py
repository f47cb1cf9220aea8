import keras
import pytest

from regsearch import regularizers
from regsearch.regularizers import (
    Contractive,
    GroupLasso,
    HiddenL1,
    KernelLength,
    Orthogonal,
    Polarization,
    RecurrentNorm,
    RecurrentState,
    ReweightedGroupSparsity,
    Slimming,
    get,
)

CLASSES = [
    KernelLength,
    GroupLasso,
    Orthogonal,
    HiddenL1,
    RecurrentState,
    RecurrentNorm,
    Contractive,
    Slimming,
    Polarization,
    ReweightedGroupSparsity,
]


@pytest.mark.parametrize("cls", CLASSES)
def test_snake_case_and_class_name(cls):
    snake = {
        KernelLength: "kernel_length",
        GroupLasso: "group_lasso",
        Orthogonal: "orthogonal",
        HiddenL1: "hidden_l1",
        RecurrentState: "recurrent_state",
        RecurrentNorm: "recurrent_norm",
        Contractive: "contractive",
        Slimming: "slimming",
        Polarization: "polarization",
        ReweightedGroupSparsity: "reweighted_group_sparsity",
    }[cls]
    assert type(get(snake)) is cls
    assert type(get(cls.__name__)) is cls
    assert snake in regularizers.available()


@pytest.mark.parametrize("cls", CLASSES)
def test_config_dict_and_instance(cls):
    reg = cls(0.25)
    restored = get(regularizers.serialize(reg))
    assert type(restored) is cls
    assert restored.get_config() == reg.get_config()
    assert get({"class_name": cls.__name__, "config": reg.get_config()}).strength == 0.25
    assert get(reg) is reg


def test_keras_names_and_none():
    assert isinstance(get("l1"), keras.regularizers.L1)
    assert isinstance(get("L2"), keras.regularizers.L2)
    assert isinstance(get("l1_l2"), keras.regularizers.L1L2)
    assert get(None) is None


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match="Did you mean 'kernel_length'"):
        get("kernel_lenght")


def test_wrong_type():
    with pytest.raises(TypeError, match="Cannot interpret"):
        get(3.0)


class _NoConfig(keras.regularizers.Regularizer):
    """Unregistered, and without get_config: Keras still trains with it."""

    def __call__(self, x):
        return 0.5 * keras.ops.sum(keras.ops.square(x))


def _penalty(weight):
    return 0.1 * keras.ops.sum(keras.ops.abs(weight))


def test_any_callable_and_any_regularizer_instance_resolve_as_is():
    no_config = _NoConfig()
    assert get(no_config) is no_config
    assert get(_penalty) is _penalty
    assert float(get(_penalty)(keras.ops.ones((2, 3)))) == pytest.approx(0.6)
    assert type(get(_NoConfig)) is _NoConfig  # a class is built, as Keras does
    with pytest.raises(TypeError, match="Cannot interpret"):
        get(dict)  # a class that is no Regularizer
