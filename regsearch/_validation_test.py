import math

import pytest

from regsearch import _validation as v


def test_did_you_mean_suggests_close_name():
    assert "'kernel_length'" in v.did_you_mean("kernel_lenght", ["kernel_length", "l1"])
    assert v.did_you_mean("zzz", ["kernel_length"]) == ""


def test_check_choice_error_names_argument_value_and_suggestion():
    with pytest.raises(ValueError, match=r"`window`.*'hanning'.*Did you mean 'hann'"):
        v.check_choice("window", "hanning", ["poly", "hann", "hamming"])


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_check_float_rejects_negative_and_non_finite(bad):
    with pytest.raises(ValueError, match="`strength`"):
        v.check_float("strength", bad)


def test_check_float_rejects_non_numbers():
    with pytest.raises(TypeError, match=r"`strength`.*'a'"):
        v.check_float("strength", "a")


def test_check_int_rejects_float_with_fix():
    with pytest.raises(TypeError, match="Pass 2 instead"):
        v.check_int("k", 2.0)
    with pytest.raises(ValueError, match="`k` must be >= 1; received 0"):
        v.check_int("k", 0, minimum=1)
    assert v.check_int("k", 3, minimum=1) == 3


def test_check_bool_rejects_truthy_values():
    assert v.check_bool("relative", False) is False
    with pytest.raises(TypeError, match=r"`relative` must be a bool.*received 1 of type int"):
        v.check_bool("relative", 1)


def test_check_model_returns_the_model_or_names_the_argument():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert v.check_model("model", model) is model
    with pytest.raises(TypeError, match=r"`base` must be a keras.Model; received 'x' of type str"):
        v.check_model("base", "x")
    with pytest.raises(TypeError, match=r"`model` must be a keras.Model.*of type Dense"):
        v.check_model("model", keras.layers.Dense(1))


@pytest.mark.parametrize("call", ["apply", "trim", "trimmed_size", "shrink"])
def test_public_entry_points_check_the_model(call):
    import regsearch

    function = getattr(regsearch, call)
    with pytest.raises(TypeError, match=r"`model` must be a keras.Model; received 'x'"):
        function("x") if call != "shrink" else function("x", None, validation_data=None)
