import keras
import keras_tuner
import pytest

import regsearch
from regsearch.search import SearchSpace, hp_regularizer


def _conv_model():
    inputs = keras.Input((16, 1))
    x = keras.layers.Conv1D(4, 5, name="conv1")(inputs)
    x = keras.layers.Conv1D(4, 3, name="conv2")(x)
    x = keras.layers.Flatten(name="flat")(x)
    outputs = keras.layers.Dense(1, name="head")(x)
    return keras.Model(inputs, outputs)


def test_strength_exists_only_while_its_regularizer_is_chosen():
    hp = keras_tuner.HyperParameters()
    hp.values["reg"] = "l1"
    reg = hp_regularizer(hp, "reg", choices=["none", "l1", "l2"], strength=(1e-4, 1e-2))
    assert isinstance(reg, keras.regularizers.L1)
    assert hp.is_active(hp._hps["reg_l1_strength"][0])
    assert not hp.is_active(hp._hps["reg_l2_strength"][0])
    assert float(reg.l1) == pytest.approx(hp.values["reg_l1_strength"], rel=1e-6)

    hp2 = keras_tuner.HyperParameters()
    hp2.values["reg"] = "none"
    assert hp_regularizer(hp2, "reg", choices=["none", "l1"]) is None
    assert not hp2.is_active(hp2._hps["reg_l1_strength"][0])


def test_strength_reaches_regsearch_regularizers():
    hp = keras_tuner.HyperParameters()
    hp.values["reg"] = "group_lasso"
    hp.values["reg_group_lasso_strength"] = 0.003
    reg = hp_regularizer(hp, "reg", choices=["group_lasso"], strength=(1e-4, 1e-1))
    assert reg.get_config()["strength"] == pytest.approx(0.003)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kernel": []}, ValueError, "at least one choice"),
        ({"kernel": "l1"}, TypeError, r"For a single choice pass \['l1'\]"),
        ({"kernel": ["l1", "kernel_lenght"]}, ValueError, "Did you mean 'kernel_length'"),
        ({"strength": (1e-2, 1e-3)}, ValueError, "min < max"),
        ({"strength": (0.0, 1e-3)}, ValueError, r"`strength\[0\]` must be > 0"),
        ({"dropout": (0.1, 1.0)}, ValueError, "below 1.0"),
        ({"top_k": [0, 2]}, ValueError, "`top_k` must be >= 1"),
        ({"layers": []}, TypeError, "`layers`"),
        ({"kernel": [keras.regularizers.L2(0.1)]}, TypeError, r"register\('my_name', MyReg"),
        ({"width": 0.5}, TypeError, "`width` must be a non-empty list"),
        ({"width": [1.0, -0.5]}, ValueError, r"`width\[1\]` must be > 0"),
        ({"width": [0.5, 0.5]}, ValueError, "repeats a choice"),
        ({"kernel_size": [3, 0]}, ValueError, r"`kernel_size\[1\]` must be >= 1"),
        ({"kernel_size": []}, TypeError, "non-empty list"),
        ({"schedule": ["growin"]}, ValueError, r"`schedule\[0\]`.*Did you mean 'growing'"),
        ({"schedule": "growing"}, TypeError, "`schedule` must be a non-empty list"),
        ({"growth": (1.0, 2.0)}, ValueError, r"`growth` must lie above 1.*\(1.0, 2.0\)"),
    ],
)
def test_bad_spaces_are_rejected_early(kwargs, error, match):
    with pytest.raises(error, match=match):
        SearchSpace(**kwargs)


def test_space_config_round_trip():
    space = SearchSpace(
        "conv*",
        kernel=["none", "l1", "kernel_length"],
        strength=(1e-5, 1e-2),
        dropout=(0.0, 0.3),
        top_k=[1, 2],
        per_layer=True,
        width=[1.0, 0.5],
        kernel_size=[1, 3],
    )
    assert SearchSpace.from_config(space.get_config()) == space
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(space))
    assert restored == space


def test_unmatched_layer_pattern_lists_layers():
    with pytest.raises(ValueError, match=r"'cnov\*' .*matches no layer.*conv1"):
        SearchSpace("cnov*").plan(keras_tuner.HyperParameters(), _conv_model())


def test_kernel_length_goes_only_to_spatial_kernels():
    hp = keras_tuner.HyperParameters()
    hp.values["kernel"] = "kernel_length"
    plan = SearchSpace(kernel=["kernel_length"]).plan(hp, _conv_model())
    assert sorted(plan["kernel"]) == ["conv1", "conv2"]


def test_per_layer_declares_one_choice_per_layer_and_skips_dropout_on_outputs():
    hp = keras_tuner.HyperParameters()
    space = SearchSpace(kernel=["none", "l2", "kernel_length"], dropout=(0.1, 0.5), per_layer=True)
    plan = space.plan(hp, _conv_model())
    assert {"conv1_kernel", "conv2_kernel", "head_kernel"} <= set(hp.values)
    assert "kernel_length" not in hp._hps["head_kernel"][0].values
    assert "head" not in (plan["dropout"] or {})
    assert "head_dropout" not in hp.values


def test_plan_applies_to_a_model():
    hp = keras_tuner.HyperParameters()
    hp.values["kernel"] = "l2"
    plan = SearchSpace("conv*", kernel=["l2"], dropout=(0.2, 0.4)).plan(hp, _conv_model())
    model = regsearch.apply(_conv_model(), **plan)
    assert isinstance(model.get_layer("conv1").kernel_regularizer, keras.regularizers.L2)
    assert model.get_layer("head").kernel_regularizer is None
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 2


class _Scaled(keras.regularizers.Regularizer):
    """A user's own regularizer, known to regsearch only through ``register``."""

    def __init__(self, strength=0.01):
        self.strength = strength

    def __call__(self, x):
        return self.strength * keras.ops.sum(keras.ops.square(x))

    def get_config(self):
        return {"strength": self.strength}


def test_a_registered_user_regularizer_is_searched_by_name():
    from regsearch import regularizers

    regularizers.register("space_test_scaled", _Scaled)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    space = SearchSpace(kernel=["space_test_scaled"], strength=(0.1, 0.2))
    plan = space.plan(keras_tuner.HyperParameters(), model)
    new = regsearch.apply(model, **plan)
    reg = new.get_layer("dense").kernel_regularizer
    assert type(reg) is _Scaled and 0.1 <= reg.strength <= 0.2


def test_for_size_gives_every_matched_layer_its_own_structured_sparsity():
    space = SearchSpace.for_size("conv*", strength=(1e-3, 2e-3))
    assert SearchSpace.from_config(space.get_config()) == space
    hp = keras_tuner.HyperParameters()
    plan = space.plan(hp, _conv_model())
    assert set(plan["kernel"]) == {"conv1", "conv2"}
    for name, reg in plan["kernel"].items():
        assert isinstance(reg, regsearch.regularizers.StructuredSparsity)
        key = f"{name}_kernel_structured_sparsity_strength"
        assert reg.strength == pytest.approx(hp.values[key])
        assert 1e-3 <= reg.strength <= 2e-3
    with pytest.raises(ValueError, match="`strength"):
        SearchSpace.for_size(strength=(1e-2, 1e-3))


def test_width_and_kernel_size_are_searched_per_layer_and_default_to_no_resize():
    hp = keras_tuner.HyperParameters()
    space = SearchSpace(kernel=["none"], width=[0.25, 1.0, 0.5], kernel_size=[1, 3], per_layer=True)
    plan = space.plan(hp, _conv_model())
    assert hp.values["conv1_width"] == 1.0 and hp.values["conv1_kernel_size"] == 3
    assert "head_width" not in hp.values  # the output layer keeps its width
    assert "head_kernel_size" not in hp.values  # a Dense layer has no kernel size
    hp.values.update(conv1_width=0.5, conv2_kernel_size=1)
    plan = space.plan(hp, _conv_model())
    model = regsearch.apply(_conv_model(), **plan)
    assert model.get_layer("conv1").filters == 2
    assert model.get_layer("conv2").kernel_size == (1,)
    assert model.get_layer("conv1").kernel_size == (3,)


def test_for_size_can_search_widths_and_kernel_sizes_too():
    space = regsearch.SearchSpace.for_size("conv*", width=[1.0, 0.5], kernel_size=[3, 5])
    hp = keras_tuner.HyperParameters()
    space.plan(hp, _conv_model())
    assert {"conv1_width", "conv2_width", "conv1_kernel_size", "conv2_kernel_size"} <= set(
        hp.values
    )


def _residual_model():
    inputs = keras.Input((8, 8, 3))
    stem = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", name="inner")(stem)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = keras.layers.Conv2D(8, 1, name="project")(x)  # its output meets `stem` in the Add
    x = keras.layers.Add(name="add")([stem, x])
    a = keras.layers.Conv2D(4, 1, name="left")(x)
    b = keras.layers.Conv2D(4, 1, name="right")(x)
    x = keras.layers.Concatenate(name="concat")([a, b])
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(6, name="hidden")(x)
    outputs = keras.layers.Dense(2, name="head")(x)
    return keras.Model(inputs, outputs)


def test_width_is_searched_per_coupled_group_where_the_model_leaves_it_free():
    hp = keras_tuner.HyperParameters()
    space = SearchSpace(kernel=["none"], width=[1.0, 0.5], per_layer=True)
    space.plan(hp, _residual_model())
    searched = {name.removesuffix("_width") for name in hp.values if name.endswith("_width")}
    # `stem` and `project` meet in a residual Add: one width, named after `stem`;
    # `head` is the output.
    assert searched == {"stem", "inner", "left", "right", "hidden"}
    hp.values.update({f"{name}_width": 0.5 for name in searched})
    model = regsearch.apply(_residual_model(), **space.plan(hp, _residual_model()))
    filters = [model.get_layer(n).get_config().get("filters", 0) for n in ("inner", "left")]
    assert filters == [4, 2]
    assert model.get_layer("stem").filters == model.get_layer("project").filters == 4
    assert model.get_layer("hidden").units == 3
    assert model.output_shape == (None, 2)


def test_uniform_width_names_every_searched_width_of_the_plan():
    hp = keras_tuner.HyperParameters()
    space = SearchSpace(kernel=["none"], width=[1.0, 0.5], per_layer=True)
    space.plan(hp, _residual_model())
    half = space.uniform_width(_residual_model(), 0.5)
    assert half == {name: 0.5 for name in hp.values if name.endswith("_width")}
    shared = SearchSpace(kernel=["none"], width=[1.0, 0.5], per_layer=False)
    assert shared.uniform_width(_residual_model(), 1.0) == {"width": 1.0}
    with pytest.raises(ValueError, match=r"one of the space's widths \(1.0, 0.5\); received 0.3"):
        space.uniform_width(_residual_model(), 0.3)


def test_a_reshape_keeps_the_width_of_the_layer_before_it():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(6, name="dense")(inputs)
    x = keras.layers.Reshape((2, 3), name="reshape")(x)
    outputs = keras.layers.Flatten()(x)
    hp = keras_tuner.HyperParameters()
    SearchSpace(kernel=["none"], width=[1.0, 0.5], per_layer=True).plan(
        hp, keras.Model(inputs, outputs)
    )
    assert "dense_width" not in hp.values


def test_for_size_offers_kernel_and_batch_norm_scale_penalties_per_layer():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Conv2D(4, 3, name="conv2")(keras.layers.ReLU()(x))
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    space = regsearch.SearchSpace.for_size(
        "conv*",
        kernel=("structured_sparsity", "reweighted_group_sparsity"),
        gamma=("none", "polarization", "slimming"),
        relative_strength=True,
    )
    assert regsearch.SearchSpace.from_config(space.get_config()) == space
    hp = keras_tuner.HyperParameters()
    space.plan(hp, model)
    assert "conv1_gamma" in hp.values and "conv2_gamma" not in hp.values  # no BN after conv2
    hp.values.update(conv1_kernel="reweighted_group_sparsity", conv1_gamma="polarization")
    hp.values.update(
        conv1_kernel_reweighted_group_sparsity_strength=0.1, conv1_gamma_polarization_strength=0.1
    )
    plan = space.plan(hp, model)
    assert isinstance(plan["kernel"]["conv1"], regsearch.regularizers.ReweightedGroupSparsity)
    assert isinstance(plan["gamma"]["bn1"], regsearch.regularizers.Polarization)
    built = regsearch.apply(model, **plan)
    assert isinstance(built.get_layer("bn1").gamma_regularizer, regsearch.regularizers.Polarization)


def test_coupled_penalty_per_residual_stream_is_searched_and_attached():
    space = regsearch.SearchSpace.for_size(coupled=True, relative_strength=True)
    assert regsearch.SearchSpace.from_config(space.get_config()) == space
    hp = keras_tuner.HyperParameters()
    space.plan(hp, _residual_model())
    assert hp.values["stem_coupled"] == "none"  # the default: no coupled penalty
    hp.values.update(stem_coupled="group_lasso", stem_coupled_group_lasso_strength=0.5)
    plan = space.plan(hp, _residual_model())
    (cross,) = plan["cross_layer"]
    assert cross.layer_patterns == ["stem", "project"] and cross.flatten
    model = regsearch.apply(_residual_model(), **plan)
    bound = next(layer for layer in model.layers if isinstance(layer, regsearch.CrossLayer))
    assert [layer.name for layer in bound.bound_layers] == ["stem", "project"]


def test_for_size_offers_kernel_extent_and_a_growing_schedule_per_layer():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 5, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Conv2D(4, 3, name="conv2")(keras.layers.ReLU()(x))
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    space = regsearch.SearchSpace.for_size(
        kernel=("structured_sparsity", "kernel_extent"),
        gamma=("slimming",),
        schedule=("constant", "growing"),
        growth=(1.5, 3.0),
        relative_strength=True,
    )
    assert regsearch.SearchSpace.from_config(space.get_config()) == space
    hp = keras_tuner.HyperParameters()
    space.plan(hp, model)
    assert hp.values["conv1_schedule"] == "constant"  # the default: no schedule
    assert "conv1_growth" not in hp.values  # exists only while growing is chosen
    assert "kernel_extent" not in hp._hps["head_kernel"][0].values  # no taps on Dense
    hp.values.update(conv1_kernel="kernel_extent", conv1_schedule="growing")
    hp.values.update(conv1_kernel_kernel_extent_strength=0.3, conv1_growth=2.5)
    plan = space.plan(hp, model)
    kernel, gamma = plan["kernel"]["conv1"], plan["gamma"]["bn1"]
    assert isinstance(kernel, regsearch.regularizers.Growing)
    assert isinstance(kernel.regularizer, regsearch.regularizers.KernelExtent)
    assert kernel.regularizer.strength == 0.3 and kernel.growth == 2.5
    assert isinstance(gamma, regsearch.regularizers.Growing) and gamma.growth == 2.5
    assert isinstance(gamma.regularizer, regsearch.regularizers.Slimming)
    assert isinstance(plan["kernel"]["conv2"], regsearch.regularizers.StructuredSparsity)
    hypermodel = regsearch.RegSearchHyperModel(
        model, space, compile={"optimizer": "adam", "loss": "mse"}
    )
    built = hypermodel.build(hp)
    penalty = built.get_layer("conv1").kernel.regularizer
    assert isinstance(penalty, regsearch.regularizers.Growing) and penalty is not kernel
    assert float(keras.ops.convert_to_numpy(built.losses[0])) > 0
