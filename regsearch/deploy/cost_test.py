"""``regsearch.deployment_cost``: the file size and the latency, measured."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import regsearch
from regsearch.deploy._cost import runs_per_sample
from regsearch.deploy.litert_test import needs_tensorflow, small_conv


@needs_tensorflow
def test_the_cost_is_the_exported_files_size_and_its_measured_latency(tmp_path: Path) -> None:
    model = small_conv()
    cost = regsearch.deployment_cost(model, repeats=20)
    path = regsearch.export(model, tmp_path / "model.tflite", batch_size=1)
    assert cost.file_bytes == path.stat().st_size
    low, high = cost.latency_quartiles_ms
    assert 0 < cost.latency_ms <= low <= high  # the fastest sample, then the quartiles
    assert (cost.batch_size, cost.threads, cost.quantize, cost.repeats) == (1, 1, None, 20)
    assert cost.runtime.split()[0] in ("ai_edge_litert", "tensorflow")
    # a sample of runs lasts about a millisecond, so a run of microseconds is repeated
    assert cost.number > 1
    once = regsearch.deployment_cost(model, repeats=3, number=1)
    assert once.number == 1


def test_a_sample_repeats_fast_runs_until_it_lasts_a_millisecond() -> None:
    assert runs_per_sample(1e-6) == 1000
    assert runs_per_sample(2.5e-4) == 4
    assert runs_per_sample(0.1) == 1
    assert runs_per_sample(1e-9) == 10_000  # at most


@needs_tensorflow
def test_int8_inputs_and_stripped_strings_are_measured_as_exported(tmp_path: Path) -> None:
    model = small_conv()
    x = np.random.default_rng(0).normal(size=(16, 12, 12, 1)).astype("float32")
    options = {"quantize": "int8", "representative_data": x, "io_dtype": "int8"}
    cost = regsearch.deployment_cost(model, strip_strings=True, repeats=3, **options)
    path = regsearch.export(
        model, tmp_path / "m.tflite", batch_size=1, strip_strings=True, **options
    )
    assert cost.file_bytes == path.stat().st_size


@needs_tensorflow
def test_int8_costs_less_file_and_a_bigger_batch_more_time() -> None:
    model = keras.Sequential(
        [keras.Input((256,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(4)]
    )
    x = np.random.default_rng(0).normal(size=(32, 256)).astype("float32")
    float_cost = regsearch.deployment_cost(model, repeats=30)
    int8_cost = regsearch.deployment_cost(model, quantize="int8", representative_data=x, repeats=30)
    batch_cost = regsearch.deployment_cost(model, batch_size=64, repeats=30)
    assert int8_cost.file_bytes < 0.35 * float_cost.file_bytes
    assert int8_cost.quantize == "int8"
    assert batch_cost.batch_size == 64
    assert batch_cost.latency_ms > 2 * float_cost.latency_ms


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"threads": 0}, ValueError, r"`threads` must be >= 1"),
        ({"repeats": 2.0}, TypeError, r"`repeats` must be an integer.*Pass 2"),
        ({"quantize": "float61"}, ValueError, r"Did you mean 'float16'\?"),
        ({"number": 0}, ValueError, r"`number` must be >= 1; received 0"),
        ({"io_dtype": "int8"}, ValueError, r"io_dtype='int8' with quantize=None"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        regsearch.deployment_cost(small_conv(), **kwargs)
