import keras
import keras_tuner
import numpy as np
import pytest

import regsearch


def _data(n=256, length=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, length, 1)).astype("float32")
    y = (x[:, 2:-2, 0].sum(axis=1, keepdims=True) * 0.2).astype("float32")
    return x, y


def _model():
    inputs = keras.Input((16, 1))
    x = keras.layers.Conv1D(4, 5, name="conv1")(inputs)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(1, name="head")(x)
    return keras.Model(inputs, outputs)


def _hypermodel(**kwargs):
    space = kwargs.pop("space", regsearch.SearchSpace(kernel=["none", "l1", "l2"]))
    return regsearch.RegSearchHyperModel(
        _model(), space, compile={"optimizer": "adam", "loss": "mse"}, **kwargs
    )


def test_user_model_is_cloned_fresh_and_never_changed():
    user = _model()
    before = [w.copy() for w in user.get_weights()]
    hypermodel = regsearch.RegSearchHyperModel(
        user, regsearch.SearchSpace(kernel=["l2"]), compile={"optimizer": "adam", "loss": "mse"}
    )
    built = hypermodel.build(keras_tuner.HyperParameters())
    assert built is not user
    assert isinstance(built.get_layer("conv1").kernel_regularizer, keras.regularizers.L2)
    assert user.get_layer("conv1").kernel_regularizer is None
    for a, b in zip(before, user.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_build_fn_with_hp_composes_user_hyperparameters():
    def build(hp):
        units = hp.Int("units", 2, 8, step=2)
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(units, name="hidden"), keras.layers.Dense(1)]
        )
        model.compile(optimizer="sgd", loss="mae")
        return model

    hypermodel = regsearch.RegSearchHyperModel(build, regsearch.SearchSpace(kernel=["none", "l1"]))
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert {"units", "kernel"} <= set(hp.values)
    assert model.get_layer("hidden").units == hp.values["units"]
    assert model.loss == "mae"  # compile configuration taken from the user's build


def test_build_fn_compiled_with_metric_instances_searches_and_gives_a_usable_best_model(
    tmp_path,
):
    # The compile configuration of the user's build holds metric instances in their
    # serialized form: they must be deserialized, not passed to compile() as dicts.
    def build(hp):
        model = _model()
        model.compile(
            optimizer="adam",
            loss="mse",
            metrics=[keras.metrics.MeanAbsoluteError(name="mae")],
        )
        return model

    hypermodel = regsearch.RegSearchHyperModel(build, regsearch.SearchSpace(kernel=["none"]))
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective("val_mae"),
        max_trials=1,
        directory=str(tmp_path),
    )
    x, y = _data(n=64)
    tuner.search(x, y, validation_data=(x, y), epochs=1, verbose=0)
    best = regsearch.best_model(tuner)
    logs = best.evaluate(x, y, verbose=0, return_dict=True)
    expected = float(np.mean(np.abs(best.predict(x, verbose=0) - y)))
    assert logs["mae"] == pytest.approx(expected, rel=1e-4)


def test_compile_instances_are_fresh_for_every_build():
    optimizer = keras.optimizers.Adam(learning_rate=0.01)
    hypermodel = regsearch.RegSearchHyperModel(
        _model, compile={"optimizer": optimizer, "loss": keras.losses.MeanSquaredError()}
    )
    first = hypermodel.build(keras_tuner.HyperParameters())
    second = hypermodel.build(keras_tuner.HyperParameters())
    assert first.optimizer is not optimizer and first.optimizer is not second.optimizer
    assert float(first.optimizer.learning_rate) == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        (42, TypeError, "Keras model or a build function"),
        (lambda a, b: None, TypeError, "takes 2"),
    ],
)
def test_bad_models(model, error, match):
    with pytest.raises(error, match=match):
        regsearch.RegSearchHyperModel(model)


def test_uncompiled_model_without_compile_is_a_clear_error():
    hypermodel = regsearch.RegSearchHyperModel(_model())
    with pytest.raises(ValueError, match="pass compile="):
        hypermodel.build(keras_tuner.HyperParameters())


def test_unknown_compile_key():
    with pytest.raises(ValueError, match="unknown keys"):
        regsearch.RegSearchHyperModel(_model(), compile={"optimiser": "adam", "loss": "mse"})


TUNERS = {
    "random": lambda hm, obj, d: keras_tuner.RandomSearch(
        hm, objective=obj, max_trials=2, directory=d, project_name="p", seed=1
    ),
    "bayesian": lambda hm, obj, d: keras_tuner.BayesianOptimization(
        hm, objective=obj, max_trials=3, num_initial_points=2, directory=d, project_name="p", seed=1
    ),
    "hyperband": lambda hm, obj, d: keras_tuner.Hyperband(
        hm,
        objective=obj,
        max_epochs=3,
        factor=3,
        hyperband_iterations=1,
        directory=d,
        project_name="p",
        seed=1,
    ),
    "grid": lambda hm, obj, d: keras_tuner.GridSearch(
        hm, objective=obj, max_trials=2, directory=d, project_name="p", seed=1
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(TUNERS))
def test_a_real_search_with_every_tuner(kind, tmp_path):
    x, y = _data()
    objective = regsearch.Objective("val_loss", size_weight=0.5)
    space = regsearch.SearchSpace(kernel=["none", "l1"], strength=(1e-4, 1e-2))
    tuner = TUNERS[kind](_hypermodel(space=space), objective, str(tmp_path))
    tuner.search(x, y, validation_split=0.25, epochs=2, batch_size=64, verbose=0)

    table = regsearch.results(tuner)
    assert len(table) >= 2
    finished = table[table["status"] == "COMPLETED"]
    assert len(finished) == len(table)
    for column in ("score", "val_data_loss", "trimmed_params", "trimmed_macs", "size_ratio"):
        assert finished[column].notna().all(), column
    expected = finished["val_data_loss"] + 0.5 * finished["size_ratio"]
    np.testing.assert_allclose(finished["score"], expected, rtol=1e-5)
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.score == pytest.approx(finished["score"].min())
    assert len(regsearch.pareto_front(tuner)) >= 1


@pytest.mark.slow
def test_reported_size_and_loss_are_those_of_the_trimmed_model(tmp_path):
    x, y = _data(n=384)
    x_val, y_val = _data(n=128, seed=1)
    space = regsearch.SearchSpace(
        "conv1", kernel=["kernel_length", "group_lasso"], strength=(0.05, 0.1)
    )
    hypermodel = regsearch.RegSearchHyperModel(
        _model(),
        space,
        compile={"optimizer": keras.optimizers.Adam(0.02), "loss": "mse"},
        trim_threshold=2e-2,
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss", size_weight=1.0),
        max_trials=2,
        directory=str(tmp_path),
        seed=3,
    )
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=6, batch_size=32, verbose=0)
    best = tuner.oracle.get_best_trials(1)[0]
    reported_params = best.metrics.get_last_value("trimmed_params")
    reported_loss = best.metrics.get_last_value("val_data_loss")

    trimmed = regsearch.best_model(tuner, trimmed=True)
    untrimmed = regsearch.best_model(tuner, trimmed=False)
    assert trimmed.count_params() <= reported_params < untrimmed.count_params()
    loss = trimmed.evaluate(x_val, y_val, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(reported_loss, rel=0.05)


def _blowing_up_build(hp):
    blow_up = hp.Boolean("blow_up")
    inputs = keras.Input((4,))
    x = keras.layers.Dense(2, name="hidden")(inputs)
    x = keras.layers.Rescaling(1e30 if blow_up else 1.0, name="scale")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(x))
    model.compile(optimizer="sgd", loss="mse")
    return model


def _xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(64, 1)).astype("float32")


@pytest.mark.slow
def test_nan_loss_fails_the_trial_with_a_reason_and_the_search_goes_on(tmp_path):
    hypermodel = regsearch.RegSearchHyperModel(
        _blowing_up_build, regsearch.SearchSpace("hidden", kernel=["none"])
    )
    tuner = keras_tuner.GridSearch(
        hypermodel, objective=regsearch.Objective(), max_trials=2, directory=str(tmp_path)
    )
    tuner.search(*_xy(), validation_split=0.25, epochs=3, verbose=0)
    table = regsearch.results(tuner).set_index("blow_up")
    assert table.loc[True, "status"] == "FAILED"
    assert "training loss became" in table.loc[True, "message"]
    assert "epoch 1, batch 1" in table.loc[True, "message"]
    assert table.loc[False, "status"] == "COMPLETED"


@pytest.mark.slow
def test_a_search_where_every_trial_fails_ends_with_one_clear_error(tmp_path):
    def build(hp):
        hp.Fixed("blow_up", True)
        return _blowing_up_build(hp)

    hypermodel = regsearch.RegSearchHyperModel(
        build, regsearch.SearchSpace("hidden", kernel=["none", "l1"])
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective=regsearch.Objective(), max_trials=2, directory=str(tmp_path)
    )
    with pytest.raises(
        RuntimeError, match=r"Every trial of this search failed.*training loss became"
    ):
        tuner.search(*_xy(), validation_split=0.25, epochs=2, verbose=0)
    with pytest.raises(RuntimeError, match="No trial of this search finished"):
        regsearch.best_model(tuner)


@pytest.mark.slow
def test_consecutive_failures_stop_the_search_with_the_reasons(tmp_path):
    def build(hp):
        hp.Fixed("blow_up", True)
        return _blowing_up_build(hp)

    hypermodel = regsearch.RegSearchHyperModel(
        build, regsearch.SearchSpace("hidden", kernel=["none", "l1", "l2"])
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective(),
        max_trials=5,
        max_consecutive_failed_trials=2,
        directory=str(tmp_path),
    )
    with pytest.raises(
        RuntimeError, match=r"Every trial of this search failed \(2 trials\).*loss became inf"
    ):
        tuner.search(*_xy(), validation_split=0.25, epochs=1, verbose=0)
    assert len(tuner.oracle.trials) == 2


def test_an_objective_metric_the_model_does_not_log_fails_before_training(tmp_path):
    tuner = keras_tuner.RandomSearch(
        _hypermodel(),
        objective=regsearch.Objective("val_accuracy"),
        max_trials=1,
        directory=str(tmp_path),
    )
    with pytest.raises(ValueError, match=r"'val_accuracy' is not logged.*'val_loss'"):
        tuner.search(*_data(n=32), validation_split=0.25, epochs=1, verbose=0)
    assert not any(t.status == "COMPLETED" for t in tuner.oracle.trials.values())


@pytest.mark.slow
def test_a_seeded_search_is_reproducible(tmp_path):
    x, y = _data(n=128)

    def run(directory):
        keras.utils.set_random_seed(7)
        tuner = keras_tuner.RandomSearch(
            _hypermodel(),
            objective=regsearch.Objective("val_loss", size_weight=0.1),
            max_trials=2,
            directory=str(directory),
            seed=7,
        )
        tuner.search(x, y, validation_split=0.25, epochs=2, batch_size=32, verbose=0)
        return regsearch.results(tuner).drop(columns=["trial_id"])

    import pandas as pd

    pd.testing.assert_frame_equal(run(tmp_path / "a"), run(tmp_path / "b"), rtol=1e-5)


@pytest.mark.slow
def test_output_sparsity_is_measured_and_scored(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6)).astype("float32")
    y = (x[:, :4] > 0.8).astype("float32")
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, activation="sigmoid", name="out")]
    )
    hypermodel = regsearch.RegSearchHyperModel(
        model,
        regsearch.SearchSpace(kernel=["none"], top_k=[1, 4]),
        compile={"optimizer": "adam", "loss": "binary_crossentropy"},
    )
    objective = regsearch.Objective("val_loss", max_active_outputs=1, sparsity_weight=2.0)
    tuner = keras_tuner.GridSearch(
        hypermodel, objective=objective, max_trials=2, directory=str(tmp_path)
    )
    tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0)
    table = regsearch.results(tuner).set_index("top_k")
    assert table.loc[1, "active_outputs"] <= 1.0
    assert table.loc[4, "active_outputs"] > 1.0
    for k in (1, 4):
        row = table.loc[k]
        excess = max(0.0, row["active_outputs"] - 1.0)
        assert row["score"] == pytest.approx(row["val_data_loss"] + 2.0 * excess / 4, rel=1e-5)


@pytest.mark.slow
def test_a_searched_width_is_credited_against_the_original_size_and_reloads(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _data(n=128)
    space = regsearch.SearchSpace(
        "conv1", kernel=["none"], width=[1.0, 0.5], kernel_size=[5, 3], per_layer=True
    )
    objective = regsearch.Objective("val_loss", size_weight=0.5, size="macs")
    tuner = TUNERS["grid"](_hypermodel(space=space), objective, str(tmp_path))
    tuner.oracle.max_trials = 4
    tuner.search(x, y, validation_split=0.25, epochs=1, batch_size=64, verbose=0)

    base_macs = regsearch.trimmed_size(_model(), 0.0).macs_before
    table = regsearch.results(tuner).set_index("trial_id")
    assert len(table) == 4
    for trial_id, trial in tuner.oracle.trials.items():
        row = table.loc[trial_id]
        assert row["size_ratio"] == pytest.approx(row["trimmed_macs"] / base_macs)
        model = tuner.load_model(trial)  # the trial's own architecture, its own weights
        conv = model.get_layer("conv1")
        assert conv.filters == round(4 * trial.hyperparameters.get("conv1_width"))
        assert conv.kernel_size == (trial.hyperparameters.get("conv1_kernel_size"),)
    smallest = table["size_ratio"].idxmin()
    assert tuner.oracle.trials[smallest].hyperparameters.values == {
        "conv1_kernel": "none",
        "conv1_width": 0.5,
        "conv1_kernel_size": 3,
    }
    assert table.loc[smallest, "size_ratio"] < 0.5
    trimmed = regsearch.best_model(tuner, trial_id=smallest)
    assert trimmed.get_layer("conv1").kernel.shape[-1] <= 2


def test_a_trial_whose_layers_are_all_emptied_is_scored_without_size_credit():
    keras.utils.set_random_seed(0)
    x, y = _data(n=64)
    # Every weight counts as zero: fine-tuning starts from a model trim() refuses.
    hypermodel = _hypermodel(
        space=regsearch.SearchSpace(kernel=["structured_sparsity"]),
        trim_threshold=10.0,
        finetune_epochs=1,
    )
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    history = hypermodel.fit(hp, model, x, y, validation_split=0.25, epochs=1, verbose=0)
    assert history.history["size_ratio"] == [1.0]
    assert history.history["trimmed_macs"] == [regsearch.trimmed_size(_model(), 0.0).macs_before]
    assert np.isfinite(history.history["score"]).all()


def _residual_bn_model():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU()(x)
    y = keras.layers.Conv2D(8, 3, padding="same", name="inner")(x)
    y = keras.layers.ReLU()(y)
    y = keras.layers.Conv2D(8, 3, padding="same", name="last")(y)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def _damaged(model, seed=0):
    """Give every weight a distinct, non-trivial value (BN statistics included)."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            rng.normal(size=w.shape).astype("float32")
            if w.ndim > 1
            else rng.uniform(0.5, 1.5, size=w.shape).astype("float32")
            for w in model.get_weights()
        ]
    )
    return model


def _from_model(model, **space):
    return regsearch.RegSearchHyperModel(
        model,
        regsearch.SearchSpace.for_size(**space),
        compile={"optimizer": "adam", "loss": "mse"},
        initial_weights="model",
    )


def test_initial_weights_model_starts_at_the_given_weights():
    keras.utils.set_random_seed(0)
    user = _damaged(_residual_bn_model())
    before = [w.copy() for w in user.get_weights()]
    hypermodel = _from_model(user, width=[1.0, 0.5], kernel_size=[1, 3])
    built = hypermodel.build(keras_tuner.HyperParameters())  # defaults: width 1, kernel 3
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(built.predict(x, verbose=0), user.predict(x, verbose=0), atol=1e-5)
    assert isinstance(
        built.get_layer("stem").kernel_regularizer, regsearch.regularizers.Regularizer
    )
    for a, b in zip(before, user.get_weights()):
        np.testing.assert_array_equal(a, b)  # the user's model is untouched


def test_a_narrowed_trial_keeps_the_largest_channels_of_the_coupled_group():
    user = _damaged(_residual_bn_model())
    stem = user.get_layer("stem").get_weights()[0]
    stem[..., [2, 5]] *= 10.0  # the two channels with the largest weights
    user.get_layer("stem").set_weights([stem])
    hp = keras_tuner.HyperParameters()
    hypermodel = _from_model(user, width=[1.0, 0.25])
    hypermodel.build(hp)
    assert "stem_width" in hp.values  # one width for stem and last, coupled by `add`
    hp.values["stem_width"] = 0.25
    built = hypermodel.build(hp)
    assert built.get_layer("stem").filters == built.get_layer("last").filters == 2
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(built.get_layer("stem").kernel), stem[..., [2, 5]]
    )
    last = user.get_layer("last").get_weights()[0]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(built.get_layer("last").kernel), last[..., [2, 5]]
    )
    inner = user.get_layer("inner").get_weights()[0]
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(built.get_layer("inner").kernel), inner[:, :, [2, 5]]
    )


def test_initial_weights_bad_values_say_what_is_expected():
    with pytest.raises(ValueError, match="Did you mean 'model'"):
        regsearch.RegSearchHyperModel(_model(), compile={"loss": "mse"}, initial_weights="models")
    with pytest.raises(ValueError, match="needs a built Keras model"):
        regsearch.RegSearchHyperModel(_model, compile={"loss": "mse"}, initial_weights="model")


def test_relative_strengths_are_rescaled_to_the_data_loss_before_training():
    # Without the warmup, calibrated on the initial weights (with it: warmup_test).
    keras.utils.set_random_seed(0)
    x, y = _data(64)
    space = regsearch.SearchSpace(
        kernel=["structured_sparsity"], strength=(0.5, 0.6), relative_strength=True
    )
    hypermodel = _hypermodel(space=space, penalty_warmup=False)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    kernel = model.get_layer("conv1").kernel
    regularizer = kernel.regularizer
    relative = regularizer.strength
    assert relative == hp.values["kernel_structured_sparsity_strength"]
    loss = float(np.mean((keras.ops.convert_to_numpy(model(x)) - y) ** 2))
    penalty = float(keras.ops.convert_to_numpy(regularizer(kernel)))
    hypermodel.fit(hp, model, x, y, validation_data=(x, y), epochs=1, verbose=0)
    assert regularizer.strength == pytest.approx(relative**2 * loss / penalty, rel=1e-4)
