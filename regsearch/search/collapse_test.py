import io

import keras
import keras_tuner
import numpy as np
import pandas as pd
import pytest

import regsearch


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16, 1)).astype("float32")
    y = (x[:, 2:-2, 0].sum(axis=1, keepdims=True) * 0.2).astype("float32")
    return x, y


def _model():
    inputs = keras.Input((16, 1))
    x = keras.layers.Conv1D(4, 5, name="conv1")(inputs)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(1, name="head")(x))


class _EmptyConv1(keras.callbacks.Callback):
    """Empties conv1 of L2-penalized trials before validation at epoch ``at`` (0-based),
    as a penalty that drives a whole layer to zero would; records the epochs trained."""

    def __init__(self, at, trained):
        super().__init__()
        self.at = at
        self.trained = trained  # shared by keras-tuner's copies of the callback

    def __deepcopy__(self, memo):
        return _EmptyConv1(self.at, self.trained)

    def _penalized(self):
        return self.model.get_layer("conv1").kernel_regularizer is not None

    def on_test_begin(self, logs=None):
        if self._penalized() and len(self.trained.get("l2", [])) == self.at:
            kernel = self.model.get_layer("conv1").kernel
            kernel.assign(np.zeros(kernel.shape, "float32"))

    def on_epoch_end(self, epoch, logs=None):
        self.trained.setdefault("l2" if self._penalized() else "none", []).append(epoch)


def _tuner(hypermodel, directory, max_trials=2, overwrite=True):
    return keras_tuner.GridSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss", size_weight=0.5),
        max_trials=max_trials,
        directory=str(directory),
        overwrite=overwrite,
    )


def test_a_trial_that_empties_a_layer_stops_there_and_is_marked_collapsed(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _data()
    hypermodel = regsearch.RegSearchHyperModel(
        _model(),
        regsearch.SearchSpace("conv1", kernel=["none", "l2"]),
        compile={"optimizer": "adam", "loss": "mse"},
    )
    tuner = _tuner(hypermodel, tmp_path)
    trained, stream = {}, io.StringIO()
    callbacks = [_EmptyConv1(1, trained), regsearch.search.TrialProgress("val_loss", stream=stream)]
    tuner.search(
        x, y, validation_split=0.25, epochs=4, batch_size=32, verbose=0, callbacks=callbacks
    )

    assert trained == {"none": [0, 1, 2, 3], "l2": [0, 1]}  # no epoch after the collapse
    table = regsearch.results(tuner).set_index("kernel")
    assert list(table["status"]) == ["COMPLETED", "COLLAPSED"]
    assert table.loc["l2", "collapsed_epoch"] == 2
    assert table.loc["l2", "collapsed_layer"] == "conv1"
    assert "layer 'conv1' emptied at epoch 2" in table.loc["l2", "message"]
    assert np.isnan(table.loc["none", "collapsed_epoch"])
    assert pd.isna(table.loc["none", "collapsed_layer"])
    assert "collapsed: layer 'conv1' emptied at epoch 2" in stream.getvalue()

    assert "collapsed_layer" in regsearch.search.format_table(regsearch.results(tuner))
    usable = regsearch.results(tuner, include_collapsed=False)
    assert list(usable["status"]) == ["COMPLETED"]
    assert "collapsed" not in regsearch.search.format_table(usable)
    kept = usable["trial_id"].iloc[0]
    assert regsearch.select(tuner, 1e9, metric="val_loss") == kept
    assert regsearch.pareto_front(tuner)["trial_id"].tolist() == [kept]


def test_a_collapse_while_penalized_skips_the_fine_tune_and_survives_a_reload(tmp_path):
    keras.utils.set_random_seed(0)
    x, y = _data()
    # Every weight counts as zero: the first penalized epoch empties conv1.
    hypermodel = regsearch.RegSearchHyperModel(
        _model(),
        regsearch.SearchSpace(kernel=["l1"]),
        compile={"optimizer": "adam", "loss": "mse"},
        trim_threshold=10.0,
        finetune_epochs=2,
        penalty_warmup=False,
    )
    seen = {"epochs": [], "batches": 0}

    class Count(keras.callbacks.Callback):  # sees the fine-tune epochs only
        def __deepcopy__(self, memo):
            return self

        def on_epoch_end(self, epoch, logs=None):
            seen["epochs"].append(epoch)

        def on_train_batch_end(self, batch, logs=None):
            seen["batches"] += 1

    tuner = _tuner(hypermodel, tmp_path, max_trials=1)
    tuner.search(
        x, y, validation_split=0.25, epochs=3, batch_size=32, verbose=0, callbacks=[Count()]
    )

    assert seen == {"epochs": [0], "batches": 0}  # the collapsed epoch, reported untrained
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "COMPLETED"
    reloaded = _tuner(hypermodel, tmp_path, max_trials=1, overwrite=False)
    row = regsearch.results(reloaded).iloc[0]
    assert (row["status"], row["collapsed_epoch"], row["collapsed_layer"]) == (
        "COLLAPSED",
        1,
        "conv1",
    )
    assert regsearch.results(reloaded, include_collapsed=False).empty

    with pytest.raises(
        ValueError, match=r"collapsed: layer 'conv1' emptied at epoch 1.*trimmed=False"
    ):
        regsearch.best_model(reloaded, trial_id=trial.trial_id)
    with pytest.raises(RuntimeError, match="Every trial of this search that finished collapsed"):
        regsearch.best_model(reloaded)
    untrimmed = regsearch.best_model(reloaded, trimmed=False, trial_id=trial.trial_id)
    assert not np.any(keras.ops.convert_to_numpy(untrimmed.get_layer("conv1").kernel))


def test_results_rejects_a_non_bool_include_collapsed(tmp_path):
    tuner = _tuner(
        regsearch.RegSearchHyperModel(_model(), compile={"optimizer": "adam", "loss": "mse"}),
        tmp_path,
    )
    with pytest.raises((TypeError, ValueError), match="include_collapsed"):
        regsearch.results(tuner, include_collapsed="no")
