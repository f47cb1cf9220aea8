"""The test that shows the search is useful: it finds the short kernel hidden in a long one."""

import keras
import keras_tuner
import pytest

import regsearch
from tests._filter_task import filter_task, long_kernel_model


@pytest.mark.slow
def test_size_aware_search_finds_a_short_kernel_as_accurate_as_the_long_one(tmp_path):
    x, y = filter_task(n=512, seed=0)
    x_val, y_val = filter_task(n=256, seed=1)
    epochs = 15

    keras.utils.set_random_seed(0)
    baseline = long_kernel_model()
    baseline.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    baseline.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    baseline_mse = baseline.evaluate(x_val, y_val, verbose=0)

    keras.utils.set_random_seed(0)
    hypermodel = regsearch.RegSearchHyperModel(
        long_kernel_model(),
        regsearch.SearchSpace(kernel=["none", "l1", "kernel_length"], strength=(1e-4, 1e-1)),
        compile={"optimizer": keras.optimizers.Adam(0.01), "loss": "mse"},
        # Adam(0.01) leaves weights the penalty has emptied jittering around 1e-3.
        trim_threshold=3e-3,
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=regsearch.Objective("val_loss", size_weight=0.05),
        max_trials=10,
        directory=str(tmp_path),
        seed=0,
    )
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=epochs, batch_size=32, verbose=0)
    best = regsearch.best_model(tuner, trimmed=True)
    (conv,) = [layer for layer in best.layers if isinstance(layer, keras.layers.Conv1D)]
    taps = conv.kernel.shape[0]
    mse = best.evaluate(x_val, y_val, verbose=0, return_dict=True)["loss"]
    print(
        f"best trimmed kernel: {taps} taps, val MSE {mse:.4f} vs unregularized {baseline_mse:.4f}"
    )
    assert taps <= 7
    assert mse <= 1.2 * baseline_mse
