"""TrimReport: totals and a readable table."""

import dataclasses

import keras
import numpy as np

import regsearch
from regsearch.trimming import LayerTrim

L = keras.layers


def test_report_table_shows_each_trimmed_layer_and_totals():
    model = keras.Sequential(
        [
            keras.Input((12, 1)),
            L.Conv1D(3, 5, padding="same", name="conv"),
            L.LSTM(2, name="lstm"),
        ]
    )
    kernel, bias = model.get_layer("conv").get_weights()
    kernel = np.ones_like(kernel)
    kernel[[0, 4]] = 0.0
    model.get_layer("conv").set_weights([kernel, bias])
    x = np.random.default_rng(0).normal(size=(2, 12, 1)).astype("float32")
    _, report = regsearch.trim(model, sample=x)
    text = str(report)
    assert "conv" in text and "5 -> 3" in text
    assert "lstm" in text and "not a layer trim understands" in text
    assert f"params: {report.params_before:,} -> {report.params_after:,}" in text
    assert "max |error| on sample" in text
    assert report.max_abs_error < 1e-5
    assert report.params_after == report.params_before - 2 * 3
    assert report.skipped == {"lstm": report.layers[1].note}


def test_coupling_names_the_group_and_shortens_long_lists():
    entry = LayerTrim(
        name="stem",
        class_name="Conv2D",
        kernel_before=(3, 3),
        kernel_after=(3, 3),
        filters_before=16,
        filters_after=8,
        params_before=448,
        params_after=224,
        macs_before=0,
        macs_after=0,
        coupled=("b0_c2", "b1_c2"),
        coupled_through=("b0_add", "b1_add"),
    )
    assert entry.coupling == "coupled with b0_c2, b1_c2 through b0_add, b1_add"
    many = tuple(f"b{i}_c2" for i in range(6))
    entry = dataclasses.replace(entry, coupled=many, coupled_through=many)
    assert entry.coupling == (
        "coupled with b0_c2, b1_c2, b2_c2 and 3 more through b0_c2, b1_c2, b2_c2 and 3 more"
    )
    assert dataclasses.replace(entry, coupled=(), coupled_through=()).coupling == ""
