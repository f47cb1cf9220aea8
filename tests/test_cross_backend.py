"""A `.keras` model saved on TensorFlow loads on JAX with the same predictions, and back.

One process has one Keras backend, so each side runs in its own subprocess: the saver
trains a small model carrying regsearch regularizers and layers, trims it, and saves
both models and their predictions; the loader (on the other backend) loads both and
predicts again.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import keras
    import numpy as np

    import regsearch
    import regsearch.constraints  # registers FreezeFilters for load_model
    import regsearch.layers  # registers CrossLayer
    from regsearch.regularizers import GroupLasso, KernelLength, Orthogonal, OutputSparsity

    mode, folder = sys.argv[1], Path(sys.argv[2])
    x = np.random.default_rng(1).normal(size=(8, 12, 2)).astype("float32")
    if mode == "save":
        keras.utils.set_random_seed(0)
        inputs = keras.Input((12, 2))
        h = keras.layers.Conv1D(4, 5, activation="relu", name="conv")(inputs)
        h = keras.layers.Flatten(name="flat")(h)
        h = keras.layers.Concatenate(name="cat")(
            [keras.layers.Dense(3, name="head_a")(h), keras.layers.Dense(3, name="head_b")(h)]
        )
        model = keras.Model(inputs, keras.layers.Dense(2, name="out")(h))
        new = regsearch.apply(
            model,
            kernel={"conv": KernelLength(1e-3), "head_*": GroupLasso(1e-3)},
            activity={"out": OutputSparsity(1, 1e-3)},
            dropout={"conv": 0.1},
            noise={"flat": 0.1},
            cross_layer=[regsearch.CrossLayer("head_*", Orthogonal(1e-3))],
            freeze={"out": [0]},
        )
        new.compile(keras.optimizers.Adam(1e-2), "mse")
        y = np.random.default_rng(2).normal(size=(8, 2)).astype("float32")
        new.fit(x, y, epochs=2, batch_size=4, verbose=0)
        conv = new.get_layer("conv")
        kernel, bias = conv.get_weights()
        kernel[..., 3] = 0.0  # a dead filter for trim to remove
        conv.set_weights([kernel, bias])
        small, report = regsearch.trim(new, sample=x)
        assert small.get_layer("conv").filters == 3, small.get_layer("conv").filters
        for name, m in (("trained", new), ("trimmed", small)):
            m.save(folder / f"{name}.keras")
            np.save(folder / f"{name}.npy", keras.ops.convert_to_numpy(m.predict(x, verbose=0)))
    else:
        for name in ("trained", "trimmed"):
            m = keras.saving.load_model(folder / f"{name}.keras")
            np.save(folder / f"{name}_loaded.npy", m.predict(x, verbose=0))
            if name == "trained":
                kinds = {type(layer).__name__ for layer in m.layers}
                assert "CrossLayer" in kinds, kinds
                regularizer = m.get_layer("conv").kernel_regularizer
                assert type(regularizer).__name__ == "KernelLength", regularizer
    """
)


def _run(backend: str, mode: str, folder) -> None:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{mode} on {backend} failed:\n{done.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.cross_backend
@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None, reason="needs JAX: pip install regsearch[jax]"
)
@pytest.mark.parametrize(("saver", "loader"), [("tensorflow", "jax"), ("jax", "tensorflow")])
def test_keras_file_moves_between_tensorflow_and_jax(tmp_path, saver, loader):
    _run(saver, "save", tmp_path)
    _run(loader, "load", tmp_path)
    for name in ("trained", "trimmed"):
        expected = np.load(tmp_path / f"{name}.npy")
        loaded = np.load(tmp_path / f"{name}_loaded.npy")
        np.testing.assert_allclose(loaded, expected, rtol=1e-5, atol=1e-5, err_msg=name)
