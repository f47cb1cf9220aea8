"""``regsearch.export``: the LiteRT file computes what the Keras model computes."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import regsearch
from regsearch.deploy._interpreter import find_runtime

ON_TENSORFLOW = keras.backend.backend() == "tensorflow"
needs_tensorflow = pytest.mark.skipif(
    not ON_TENSORFLOW, reason="the LiteRT converter reads TensorFlow graphs (checked below)"
)


def litert_predict(path: Path, inputs: list[np.ndarray]) -> np.ndarray:
    """The file's output, run in the LiteRT interpreter."""
    return regsearch.deploy.predict(path, inputs, batch_size=len(inputs[0]))


def small_conv(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            keras.layers.Conv2D(8, 5, padding="same", activation="relu", name="conv1"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Conv2D(8, 3, activation="relu", name="conv2"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4, name="out"),
        ]
    )


def images(n: int = 16) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(n, 12, 12, 1)).astype("float32")


def weights_of(model: keras.Model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w).copy() for w in model.weights]


@needs_tensorflow
def test_float_file_predicts_what_the_model_predicts_and_leaves_it_unchanged(
    tmp_path: Path,
) -> None:
    model = small_conv()
    config, weights = model.get_config(), weights_of(model)
    path = regsearch.export(model, tmp_path / "model.tflite")
    x = images(3)
    np.testing.assert_allclose(
        litert_predict(path, [x]), keras.ops.convert_to_numpy(model(x)), atol=1e-5
    )
    # in batches of 2: two full ones and the rest
    np.testing.assert_allclose(
        regsearch.deploy.predict(path, images(5), batch_size=2),
        keras.ops.convert_to_numpy(model(images(5))),
        atol=1e-5,
    )
    assert model.get_config() == config
    for before, after in zip(weights, weights_of(model)):
        np.testing.assert_array_equal(before, after)


@needs_tensorflow
def test_quantized_files_are_smaller_and_close(tmp_path: Path) -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(4)]
    )
    x = np.random.default_rng(0).normal(size=(64, 64)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x[:8]))
    scale = np.abs(expected).max()
    sizes = {}
    for quantize, atol in [(None, 1e-5), ("float16", 1e-2), ("dynamic", 0.05), ("int8", 0.1)]:
        data = x if quantize == "int8" else None
        path = regsearch.export(
            model, tmp_path / f"{quantize}.tflite", quantize=quantize, representative_data=data
        )
        sizes[quantize] = path.stat().st_size
        np.testing.assert_allclose(
            litert_predict(path, [x[:8]]) / scale, expected / scale, atol=atol
        )
    # Weights dominate this file: float16 halves it, 8-bit weights quarter it.
    assert sizes["float16"] < 0.6 * sizes[None]
    assert sizes["dynamic"] < 0.35 * sizes[None]
    assert sizes["int8"] < 0.35 * sizes[None]


@needs_tensorflow
def test_a_multi_input_model_takes_its_inputs_in_order(tmp_path: Path) -> None:
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    joined = keras.layers.Concatenate()([a, keras.layers.Dense(5)(b)])
    model = keras.Model([a, b], keras.layers.Dense(2)(joined))
    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 3)).astype("float32")
    path = regsearch.export(
        model, tmp_path / "two.tflite", quantize="int8", batch_size=2, representative_data=[xa, xb]
    )
    expected = keras.ops.convert_to_numpy(model([xa[:2], xb[:2]]))
    np.testing.assert_allclose(litert_predict(path, [xa[:2], xb[:2]]), expected, atol=0.1)


@needs_tensorflow
def test_int8_inputs_and_outputs_and_stripped_strings_make_a_smaller_file(tmp_path: Path) -> None:
    model = small_conv()
    x = images(32)
    expected = keras.ops.convert_to_numpy(model(x[:4]))
    scale = np.abs(expected).max()
    options = {"quantize": "int8", "representative_data": x, "batch_size": 4}
    plain = regsearch.export(model, tmp_path / "plain.tflite", **options)
    int8_io = regsearch.export(model, tmp_path / "io.tflite", io_dtype="int8", **options)
    stripped = regsearch.export(
        model, tmp_path / "strip.tflite", io_dtype="int8", strip_strings=True, **options
    )
    sizes = [path.stat().st_size for path in (plain, int8_io, stripped)]
    assert sizes[0] > sizes[1] > sizes[2]
    runtime = find_runtime()  # the file's own input and output types
    interpreter = runtime.interpreter(model_path=str(int8_io))
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    # predict quantizes the float inputs and dequantizes the outputs: all three agree
    outputs = [litert_predict(path, [x[:4]]) for path in (plain, int8_io, stripped)]
    for got in outputs:
        assert got.dtype == np.float32
        np.testing.assert_allclose(got / scale, expected / scale, atol=0.1)
    np.testing.assert_allclose(outputs[1], outputs[2], atol=1e-6)


@pytest.mark.slow
@needs_tensorflow
def test_a_trimmed_keras_applications_model_exports_exactly(tmp_path: Path) -> None:
    model = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=10
    )
    expand = model.get_layer("block_1_expand")
    kernel = keras.ops.convert_to_numpy(expand.kernel).copy()
    kernel[..., :4] = 0.0  # four dead filters for trim to remove
    expand.kernel.assign(kernel)
    small, report = regsearch.trim(model, 1e-3)
    assert report.params_after < report.params_before
    path = regsearch.export(small, tmp_path / "mobilenet.tflite")
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        litert_predict(path, [x]), keras.ops.convert_to_numpy(model(x)), atol=1e-5
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantize": "int 8"}, r"received 'int 8'.*\['float16', 'dynamic', 'int8'\].*'int8'\?"),
        ({"quantize": "int8"}, r"quantize='int8' needs `representative_data`"),
        ({"quantize": "int8", "representative_data": np.zeros((4, 5))}, r"\(5,\).*\(12, 12, 1\)"),
        ({"batch_size": 0}, r"`batch_size` must be >= 1"),
        ({"io_dtype": "int16"}, r"`io_dtype`.*'int16'.*\['float32', 'int8'\]"),
        ({"io_dtype": "int8"}, r"io_dtype='int8' with quantize=None. Pass quantize='int8'"),
        (
            {"io_dtype": "int8", "quantize": "dynamic"},
            r"fully quantized file.*quantize='dynamic'",
        ),
    ],
)
def test_bad_arguments_get_clear_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    # Checked before anything is converted: the same errors on every backend.
    with pytest.raises(ValueError, match=message):
        regsearch.export(small_conv(), tmp_path / "model.tflite", **kwargs)


def test_strip_strings_must_be_a_bool(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"`strip_strings` must be a bool.*received 'yes'"):
        regsearch.export(small_conv(), tmp_path / "model.tflite", strip_strings="yes")


def test_the_path_must_be_a_tflite_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"end with '\.tflite'.*Try '.*model\.tflite'"):
        regsearch.export(small_conv(), tmp_path / "model.keras")


@pytest.mark.skipif(ON_TENSORFLOW, reason="checks the error the other backends get")
def test_other_backends_are_told_to_export_under_tensorflow(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"backend is '\w+'.*KERAS_BACKEND=tensorflow"):
        regsearch.export(small_conv(), tmp_path / "model.tflite")
