"""``regsearch.shrink`` end to end: a trained residual model in, a smaller one out."""

import re

import keras
import numpy as np
import pytest

import regsearch

L = keras.layers


def _data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype("int32")
    return x, y


def _residual(compiled=True):
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = L.ReLU()(L.BatchNormalization(momentum=0.9, name="stem_bn")(x))
    y = L.Conv2D(8, 3, padding="same", activation="relu", name="inner")(x)
    y = L.Conv2D(8, 3, padding="same", name="last")(y)
    x = L.ReLU()(L.Add(name="add")([x, y]))
    x = L.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, L.Dense(2, name="head")(x))
    if not compiled:
        return model
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


@pytest.mark.slow
def test_shrink_returns_a_trimmed_model_within_tolerance_and_leaves_the_model(
    tmp_path, capsys, recwarn
):
    keras.utils.set_random_seed(0)
    x, y = _data(256, 0)
    x_val, y_val = _data(128, 1)
    model = _residual()
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    before = [w.copy() for w in model.get_weights()]
    base = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]

    small, tuner = regsearch.shrink(
        model, x, y, validation_data=(x_val, y_val), tolerance=0.05, max_trials=4,
        epochs=1, finetune_epochs=1, directory=str(tmp_path), seed=0, distillation=0.5,
    )  # fmt: skip

    out = capsys.readouterr().out
    assert "trial  1 of 4: val_accuracy" in out and "regsearch.shrink:" in out
    table = regsearch.results(tuner)
    assert len(table) == 4
    first, second = (tuner.oracle.trials[i].hyperparameters.values for i in ("0", "1"))
    assert first["stem_width"] == 1.0 and first["stem_kernel_structured_sparsity_strength"] == 0.03
    # the warm start: every group at 3/4 of its width, the weakest penalty
    assert second["stem_width"] == second["inner_width"] == 0.75
    assert second["stem_kernel_structured_sparsity_strength"] == 0.03
    # every trial's rate decays along a cosine from the model's own over its 2 epochs
    rate = keras.optimizers.serialize(tuner.hypermodel.compile["optimizer"])["config"]
    schedule = keras.optimizers.schedules.deserialize(rate["learning_rate"])
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert schedule.initial_learning_rate == pytest.approx(1e-2)
    assert schedule.decay_steps == 256 // 32 * 2
    # the trials learned from one-hot targets mixed with the model's predictions, but
    # what comes back, and every trial loaded from the tuner, reads the user's labels
    assert isinstance(small.loss, keras.losses.SparseCategoricalCrossentropy)
    for trial_id in ("0", "3"):
        loaded = regsearch.best_model(tuner, trial_id=trial_id)
        assert loaded.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"] > 0.5
    accuracy = small.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    assert accuracy >= base - 0.05 - 1e-6
    assert small.count_params() <= model.count_params()
    assert not any(
        isinstance(w.regularizer, keras.regularizers.Regularizer) for w in small.weights
    )  # a trimmed model: stock layers, no penalties
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # 128 samples measure an accuracy near 0.9 to about 0.03, within the tolerance
    assert not [w for w in recwarn if "standard error" in str(w.message)]


@pytest.mark.slow
def test_shrink_warns_when_the_validation_data_is_too_small_for_the_tolerance(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _data(64, 0)
    with pytest.warns(UserWarning, match=r"on 64 validation samples.*tolerance of at least 0\.06"):
        regsearch.shrink(
            _residual(), x, y, validation_data=(x, y), tolerance=0.01, max_trials=1,
            epochs=1, finetune_epochs=0, directory=str(tmp_path), verbose=0,
        )  # fmt: skip


@pytest.mark.slow
def test_shrink_in_rounds_searches_again_from_the_model_the_last_round_chose(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    x, y = _data(128, 0)
    model = _residual()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)

    small, tuner = regsearch.shrink(
        model, x, y, validation_data=(x, y), tolerance=1.0, max_trials=4, rounds=2,
        epochs=1, finetune_epochs=1, directory=str(tmp_path), seed=0,
    )  # fmt: skip

    out = capsys.readouterr().out
    assert "regsearch.shrink: round 1:" in out and "regsearch.shrink: round 2:" in out
    assert tuner.project_dir.endswith("shrink_2") and len(regsearch.results(tuner)) == 2
    # round 2 starts from round 1's trimmed model, without the model-as-given trial
    start = tuner.hypermodel.model
    assert start.get_layer("stem").filters < model.get_layer("stem").filters
    first = tuner.oracle.trials["0"].hyperparameters.values
    assert first["stem_width"] == 0.75
    assert regsearch.trimming.trimmed_size(small, 0.0).macs_before <= (
        regsearch.trimming.trimmed_size(start, 0.0).macs_before
    )  # round 2's smallest, or round 1's model when round 2 found nothing smaller
    assert model.get_layer("stem").filters == 8  # the user's model is untouched


@pytest.mark.filterwarnings("ignore:regsearch.shrink. val_accuracy is measured")
def test_shrink_searches_the_kernel_sizes_it_is_given(tmp_path):
    x, y = _data(64, 0)

    def searched(**kwargs):
        _, tuner = regsearch.shrink(
            _residual(), x, y, validation_data=(x, y), max_trials=1, epochs=1,
            finetune_epochs=0, refine=0, directory=str(tmp_path / str(kwargs)), verbose=0,
            **kwargs,
        )  # fmt: skip
        space = tuner.oracle.get_space().space
        return {hp.name: list(hp.values) for hp in space if hp.name.endswith("kernel_size")}

    # a 3x3 model: no kernel-size search by default; 1x1 offered when asked for
    assert searched() == {}
    offered = searched(kernel_size=[3, 1])
    assert set(offered) == {"stem_kernel_size", "inner_kernel_size", "last_kernel_size"}
    assert all(values == [1, 3] for values in offered.values())
    assert searched(kernel_size=()) == {}
    # a convolution that writes the model's output keeps its width, but not its kernel
    conv_only = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(2, 3, name="conv")])
    conv_only.compile(optimizer="adam", loss="mse")
    targets = np.zeros((64, 6, 6, 2), "float32")
    with pytest.raises(ValueError, match="has no Conv, SeparableConv or Dense layer"):
        regsearch.shrink(conv_only, x, targets, validation_data=(x, targets))
    _, tuner = regsearch.shrink(
        conv_only, x, targets, validation_data=(x, targets), max_trials=1, epochs=1,
        finetune_epochs=0, refine=0, kernel_size=(1, 3), directory=str(tmp_path / "conv"),
        verbose=0,
    )  # fmt: skip
    assert tuner.oracle.get_space().get("conv_kernel_size") == 3  # its default: no cut


class _Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[part], self.y[part]


@pytest.mark.slow
def test_shrink_takes_datasets_for_training_and_validation_as_fit_does(tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    x, y = _data(128, 0)
    train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(128, seed=0).batch(16)
    model = _residual()
    model.fit(train, epochs=2, verbose=0)
    small, tuner = regsearch.shrink(
        model, train, validation_data=_Batches(x, y, 32), tolerance=1.0, max_trials=3,
        epochs=1, finetune_epochs=1, refine=1, distillation="auto", directory=str(tmp_path),
        verbose=0,
    )  # fmt: skip
    assert list(regsearch.results(tuner)["status"]) == ["COMPLETED"] * 3
    # the cosine decay spans the trial's epochs of the dataset's 8 batches
    rate = keras.optimizers.serialize(tuner.hypermodel.compile["optimizer"])["config"]
    assert rate["learning_rate"]["config"]["decay_steps"] == 8 * 2
    assert small.count_params() <= model.count_params()
    with pytest.raises(ValueError, match=r"validation_data must be \(x_val, y_val\) arrays"):
        regsearch.shrink(model, x, y, validation_data=_Batches(x, y, 32), distillation=0.5)


@pytest.mark.slow
def test_shrink_searches_the_layers_of_a_nested_backbone_as_the_model_s_own(tmp_path, capsys):
    # the transfer-learning pattern: a backbone model called as one layer
    keras.utils.set_random_seed(0)
    x, y = _data(64, 0)
    backbone = _residual(compiled=False)
    backbone = keras.Model(backbone.input, backbone.get_layer("add").output, name="backbone")
    inputs = keras.Input((8, 8, 1))
    features = L.GlobalAveragePooling2D()(backbone(inputs, training=False))
    model = keras.Model(inputs, L.Dense(2, name="classifier")(features))
    model.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    model.fit(x, y, epochs=2, verbose=0)
    small, tuner = regsearch.shrink(
        model, x, y, validation_data=(x, y), tolerance=1.0, max_trials=2, epochs=1,
        finetune_epochs=1, refine=0, directory=str(tmp_path), seed=0,
    )  # fmt: skip
    assert "the layers of 'backbone' are searched as the model's own" in capsys.readouterr().out
    # the second trial cuts the backbone's residual stream, which the model as given hid
    assert tuner.oracle.trials["1"].hyperparameters.values["stem_width"] < 1.0
    assert small.get_layer("stem").filters < 8
    assert [m.name for m in model.layers if isinstance(m, keras.Model)] == ["backbone"]


def _two_outputs():
    inputs = keras.Input((8, 8, 1))
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inputs)
    x = L.GlobalAveragePooling2D()(x)
    model = keras.Model(
        inputs, {"cls": L.Dense(2, name="cls")(x), "reg": L.Dense(1, name="reg")(x)}
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss={"cls": keras.losses.SparseCategoricalCrossentropy(from_logits=True), "reg": "mse"},
        metrics={"cls": ["accuracy"], "reg": ["mae"]},
    )
    return model


@pytest.mark.slow
def test_shrink_takes_a_model_of_several_outputs_and_compares_by_the_first_metric(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    x, y = _data(64, 0)
    targets = {"cls": y, "reg": x.mean(axis=(1, 2, 3))}
    model = _two_outputs()
    model.fit(x, targets, epochs=2, verbose=0)
    with pytest.warns(UserWarning, match="val_cls_accuracy is measured on 64 validation samples"):
        small, tuner = regsearch.shrink(
            model, x, targets, validation_data=(x, targets), max_trials=2, epochs=1,
            finetune_epochs=1, refine=0, directory=str(tmp_path), seed=0,
        )  # fmt: skip
    # Keras logs output "cls"'s accuracy as val_cls_accuracy: higher is better
    assert tuner.oracle.objective.metric == "val_cls_accuracy"
    assert tuner.oracle.objective.metric_direction == "max"
    assert "trial  2 of 2: val_cls_accuracy" in capsys.readouterr().out
    assert set(small.output_names) == {"cls", "reg"}
    logs = small.evaluate(x, targets, verbose=0, return_dict=True)
    assert {"cls_accuracy", "reg_mae"} <= set(logs)


@keras.saving.register_keras_serializable(package="regsearch_tests")
def _weirdness(y_true, y_pred):
    return keras.ops.mean(y_pred)


def test_shrink_rejects_a_metric_whose_better_direction_it_cannot_tell():
    x, y = _data(8, 0)
    model = _residual(compiled=False)

    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy", _weirdness])
    with pytest.raises(ValueError, match=r"higher or a lower 'val__weirdness'.*'val_accuracy'"):
        regsearch.shrink(model, x, y, validation_data=(x, y), metric="val__weirdness")


def test_shrink_leaves_a_subclassed_model_holding_a_nested_model_as_it_was():
    x, y = _data(8, 0)

    class Wrapper(keras.Model):
        def __init__(self):
            super().__init__()
            self.backbone = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(2, 3)])

        def call(self, inputs):
            return self.backbone(inputs)

    model = Wrapper()
    model.compile(optimizer="adam", loss="mse")
    optimizer = model.optimizer
    with pytest.raises(ValueError, match="subclassed model has no graph"):
        regsearch.shrink(model, x, y, validation_data=(x, y))
    assert model.optimizer is optimizer  # not recompiled


def test_shrink_rejects_what_it_cannot_shrink():
    x, y = _data(8, 0)

    class Subclassed(keras.Model):
        def call(self, inputs):
            return inputs

    with pytest.raises(ValueError, match="subclassed model has no graph"):
        regsearch.shrink(Subclassed(), x, y, validation_data=(x, y))
    only_output = keras.Sequential([keras.Input((4,)), L.Dense(2)])
    only_output.compile(loss="mse")
    with pytest.raises(ValueError, match="has no Conv, SeparableConv or Dense layer"):
        regsearch.shrink(only_output, x, y, validation_data=(x, y))
    with pytest.raises(TypeError, match=r"must be a keras\.Model"):
        regsearch.shrink("model", x, y, validation_data=(x, y))
    with pytest.raises(TypeError, match=r"a 'generator' can be read only once: pass arrays"):
        regsearch.shrink(_residual(), (b for b in [(x, y)]), validation_data=(x, y))
    with pytest.raises(ValueError, match="logs no 'val_auc'"):
        regsearch.shrink(_residual(), x, y, validation_data=(x, y), metric="val_auc")
    with pytest.raises(TypeError, match=r"must be a tuple \(x_val, y_val\), a tf\.data\.Dataset"):
        regsearch.shrink(_residual(), x, y, validation_data=x)
    with pytest.raises(ValueError, match=r"`rounds` must be at most max_trials // 2 = 2"):
        regsearch.shrink(_residual(), x, y, validation_data=(x, y), max_trials=4, rounds=3)
    with pytest.raises(ValueError, match="is not compiled and no `compile`"):
        regsearch.shrink(_residual(compiled=False), x, y, validation_data=(x, y))
    with pytest.raises(ValueError, match=r"`learning_rate_schedule`.*Did you mean 'cosine'"):
        regsearch.shrink(_residual(), x, y, validation_data=(x, y), learning_rate_schedule="cos")
    with pytest.raises(ValueError, match=r"in \[0, 1\] or 'auto'; received 'Auto'\. Did you mean"):
        regsearch.shrink(_residual(), x, y, validation_data=(x, y), distillation="Auto")
    with pytest.raises(ValueError, match=r"`distillation` must be <= 1\.0; received 2"):
        regsearch.shrink(_residual(), x, y, validation_data=(x, y), distillation=2)
    with pytest.raises(ValueError, match=r"`temperature` must be > 0\.0; received 0"):
        regsearch.shrink(_residual(), x, y, validation_data=(x, y), temperature=0)
    with pytest.raises(ValueError, match=r"`refine`.*-1"):
        regsearch.shrink(_residual(), x, y, validation_data=(x, y), refine=-1)
    with pytest.raises(ValueError, match=r"`refine_epochs`.*0"):
        regsearch.shrink(_residual(), x, y, validation_data=(x, y), refine=1, refine_epochs=0)
    with pytest.raises(TypeError, match=r"`kernel_size` must be a list.*received 3"):
        regsearch.shrink(_residual(), x, y, validation_data=(x, y), kernel_size=3)
    with pytest.raises(ValueError, match=r"`kernel_size\[1\]` must be >= 1; received 0"):
        regsearch.shrink(_residual(), x, y, validation_data=(x, y), kernel_size=(3, 0))
    hinge = _residual(compiled=False)
    hinge.compile(loss="categorical_hinge")
    with pytest.raises(ValueError, match=r"`distillation`=0\.5 cannot be used here: its loss"):
        regsearch.shrink(hinge, x, y, validation_data=(x, y), distillation=0.5)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:regsearch.shrink. val_accuracy is measured")
def test_shrink_refines_the_near_miss_trials_and_returns_a_refined_model(tmp_path, capsys):
    keras.utils.set_random_seed(0)
    x, y = _data(256, 0)
    x_val, y_val = _data(128, 1)
    model = _residual()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    base = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]

    small, tuner = regsearch.shrink(
        model, x, y, validation_data=(x_val, y_val), tolerance=0.0, max_trials=4,
        epochs=1, finetune_epochs=1, refine=2, refine_epochs=6, directory=str(tmp_path),
        seed=0,
    )  # fmt: skip

    out = capsys.readouterr().out
    refined = re.findall(r"trial (\d+) refined for 6 epochs: val_accuracy ([\d.]+)", out)
    # the front's trials below the one the search would choose, closest to it first
    table = regsearch.results(tuner).set_index("trial_id")
    try:
        selected = regsearch.select(tuner, 0.0, size="macs", reference=base)
        below = table.loc[selected, "trimmed_macs"]
    except LookupError:
        below = np.inf
    front = regsearch.pareto_front(tuner, ("val_accuracy", "trimmed_macs"))
    front = front[front["trimmed_macs"] < below].sort_values("val_accuracy", ascending=False)
    front = front.drop_duplicates("trimmed_macs")  # two trials of one size: one refined
    assert [trial_id for trial_id, _ in refined] == list(front["trial_id"][:2])
    assert refined, out
    # a refined model came within the tolerance, and it is what comes back
    chosen = re.search(r"shrink: trial (\d+) \(refined\): val_accuracy ([\d.]+)", out)
    assert chosen is not None, out
    accuracy = small.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(float(chosen.group(2)), abs=1e-4)
    assert accuracy >= base - 1e-6
    assert small.count_params() < model.count_params()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:regsearch.shrink. val_accuracy is measured")
def test_shrink_takes_a_keras_applications_model_with_squeeze_and_excitation(tmp_path):
    # MobileNetV3Small: Rescaling, hard-swish, squeeze-and-excitation (Multiply) blocks.
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), classes=4, include_top=True
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).uniform(0, 255, size=(32, 32, 32, 3)).astype("float32")
    y = np.arange(32) % 4
    before = [w.copy() for w in model.get_weights()]

    small, tuner = regsearch.shrink(
        model, x, y, validation_data=(x, y), tolerance=1.0, max_trials=2, epochs=1,
        finetune_epochs=0, refine=0, batch_size=16, directory=str(tmp_path), verbose=0,
    )  # fmt: skip

    sizes = regsearch.results(tuner)["trimmed_macs"]
    base_macs = regsearch.trimming.trimmed_size(model, 0.0).macs_before
    assert sizes.iloc[1] < 0.75 * base_macs  # the warm start's cut to 3/4 of every group
    assert regsearch.trimming.trimmed_size(small, 0.0).macs_before == sizes.min()
    assert small.predict(x[:2], verbose=0).shape == (2, 4)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
