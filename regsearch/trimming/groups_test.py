import keras
import numpy as np
import pytest

import regsearch
from regsearch.regularizers import GroupLasso
from regsearch.trimming import (
    Narrower,
    channel_groups,
    channel_importance,
    coupled_penalties,
    narrow,
)

L = keras.layers


def _blocks():
    """Stem, a residual block, a depthwise block, a concatenation, a LayerNormalization."""
    inputs = keras.Input((8, 8, 2))
    x = L.Conv2D(6, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = L.BatchNormalization(name="stem_bn")(x)
    y = L.Conv2D(6, 1, name="expand")(x)
    y = L.DepthwiseConv2D(3, padding="same", name="depthwise")(y)
    y = L.Conv2D(6, 1, name="project")(y)
    x = L.Add(name="add")([x, y])
    a = L.Conv2D(3, 1, name="left")(x)
    b = L.Conv2D(4, 1, name="right")(x)
    x = L.Concatenate(name="concat")([a, b])
    x = L.BatchNormalization(name="concat_bn")(x)
    n = L.Conv2D(5, 1, name="normed")(x)
    n = L.LayerNormalization(name="norm")(n)
    x = L.GlobalAveragePooling2D()(L.Concatenate()([x, n]))
    return keras.Model(inputs, L.Dense(2, name="head")(x))


def test_channel_groups_follow_merges_segments_and_blockers():
    groups = {g.name: g for g in channel_groups(_blocks())}
    assert groups["stem"].producers == ("stem", "project")
    assert {"stem_bn", "add"} <= set(dict(groups["stem"].members))
    assert dict(groups["expand"].members) == {"depthwise": 0}  # tied to its input channels
    assert set(groups["stem"].readers) == {"expand", "left", "right"}
    assert dict(groups["right"].members)["concat_bn"] == 3  # its segment starts at 3
    assert "norm" in groups["normed"].blocked and "LayerNormalization" in groups["normed"].blocked
    assert groups["head"].blocked == "its channels reach a model output"
    assert not any(groups[n].blocked for n in ("stem", "expand", "left", "right"))


def test_narrow_keeps_the_most_important_channels_and_predicts_like_the_rest():
    rng = np.random.default_rng(0)
    model = _blocks()
    model.set_weights(
        [rng.uniform(0.5, 1.5, size=w.shape).astype("float32") for w in model.get_weights()]
    )
    x = rng.normal(size=(3, 8, 8, 2)).astype("float32")
    same = narrow(model)
    np.testing.assert_allclose(same.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)

    group = next(g for g in channel_groups(model) if g.name == "stem")
    keep = np.sort(np.argsort(-channel_importance(model, group))[:3])
    small = narrow(model, width={"project": 0.5}, kernel_size={"depthwise": 1})
    assert small.get_layer("stem").filters == small.get_layer("project").filters == 3
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(small.get_layer("stem").kernel),
        keras.ops.convert_to_numpy(model.get_layer("stem").kernel)[..., keep],
    )
    assert tuple(small.get_layer("depthwise").kernel.shape[:2]) == (1, 1)
    assert small.get_layer("concat_bn").gamma.shape == model.get_layer("concat_bn").gamma.shape


def test_a_narrower_reused_gives_what_narrow_gives_and_follows_the_models_weights():
    rng = np.random.default_rng(0)
    model = _blocks()
    x = rng.normal(size=(3, 8, 8, 2)).astype("float32")
    narrower = Narrower(model)
    calls = [
        {"width": {"project": 0.5}},
        {"width": {"right": 0.25}, "kernel_size": {"depthwise": 1}},
        {},  # the model as given: a plain copy, not the working one
        {"width": {"project": 0.5}},  # after the weights changed, below
    ]
    before = [w.copy() for w in model.get_weights()]
    for index, arguments in enumerate(calls):
        if index == 3:
            model.set_weights([w * 2.0 for w in model.get_weights()])
            before = [w.copy() for w in model.get_weights()]
        reused, fresh = narrower(**arguments), narrow(model, **arguments)
        assert [tuple(w.shape) for w in reused.weights] == [tuple(w.shape) for w in fresh.weights]
        np.testing.assert_array_equal(reused.predict(x, verbose=0), fresh.predict(x, verbose=0))
        for kept, now in zip(before, model.get_weights()):
            np.testing.assert_array_equal(kept, now)  # the model itself is never changed
    # What a call returned is the caller's: training it changes no later call.
    returned = narrower(**calls[0])
    returned.set_weights([np.zeros_like(w) for w in returned.get_weights()])
    np.testing.assert_array_equal(
        narrower(**calls[0]).predict(x, verbose=0),
        narrow(model, **calls[0]).predict(x, verbose=0),
    )


def test_narrow_errors_name_the_layer_and_the_reason():
    model = _blocks()
    with pytest.raises(ValueError, match=r"'normed' cannot be narrowed: .*LayerNormalization"):
        narrow(model, width={"normed": 0.5})
    with pytest.raises(ValueError, match="must be narrowed alike"):
        narrow(model, width={"stem": 0.5, "project": 0.25})
    with pytest.raises(ValueError, match="produces no channels"):
        narrow(model, width={"stem_bn": 0.5})
    with pytest.raises(ValueError, match="has no `kernel_size`"):
        narrow(model, kernel_size={"stem_bn": 1})
    with pytest.raises(ValueError, match="matches no layer name"):
        narrow(model, width={"stme": 0.5})


def test_coupled_penalties_put_one_group_norm_per_channel_over_every_coupled_kernel():
    model = _blocks()
    (spec,) = coupled_penalties(model, GroupLasso(0.1))
    assert spec.name == "stem_coupled" and spec.layer_patterns == ["stem", "project"]
    assert spec.flatten and spec.regularizer is not None
    assert coupled_penalties(model, "group_lasso", layers="left*") == []
    assert [s.name for s in coupled_penalties(model, "group_lasso", layers="proj*")] == [
        "stem_coupled"
    ]

    penalized = regsearch.apply(model, cross_layer=coupled_penalties(model, GroupLasso(0.1)))
    cross = next(x for x in penalized.layers if isinstance(x, regsearch.CrossLayer))
    penalized(np.zeros((1, 8, 8, 2), "float32"))
    kernels = [
        keras.ops.convert_to_numpy(penalized.get_layer(n).kernel) for n in ("stem", "project")
    ]
    stacked = np.concatenate([k.reshape(-1, 6) for k in kernels])  # one column per channel
    expected = GroupLasso(0.1)(keras.ops.convert_to_tensor(stacked))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(cross.penalty()), keras.ops.convert_to_numpy(expected), rtol=1e-5
    )
