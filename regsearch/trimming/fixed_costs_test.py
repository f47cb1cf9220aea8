import math

import keras
import pytest

from regsearch.trimming import trimmed_size

L = keras.layers


def _kernel_sizes(layer):
    return sum(math.prod(w.shape) for w in layer.weights if "kernel" in w.path)


def _entry(model, name):
    return next(entry for entry in trimmed_size(model).layers if entry.name == name)


@pytest.mark.parametrize("recurrent", [L.LSTM, L.GRU, L.SimpleRNN])
def test_a_recurrent_layer_counts_a_product_of_its_kernels_per_step(recurrent):
    # every step multiplies the input by the kernel and the state by the recurrent kernel
    model = keras.Sequential([keras.Input((12, 5)), recurrent(7, name="rnn"), L.Dense(2)])
    rnn = model.get_layer("rnn")
    entry = _entry(model, "rnn")
    assert entry.macs_before == entry.macs_after == 12 * _kernel_sizes(rnn)


def test_a_bidirectional_layer_counts_both_directions():
    model = keras.Sequential(
        [keras.Input((9, 4)), L.Bidirectional(L.GRU(3), name="bi"), L.Dense(2)]
    )
    assert _entry(model, "bi").macs_before == 9 * _kernel_sizes(model.get_layer("bi"))


@pytest.mark.parametrize("value_dim", [None, 6])
def test_attention_counts_its_projections_and_both_products(value_dim):
    query, value = keras.Input((10, 8)), keras.Input((4, 12))
    attention = L.MultiHeadAttention(num_heads=3, key_dim=5, value_dim=value_dim, name="mha")
    model = keras.Model([query, value], L.Dense(2)(attention(query, value)))
    kernels = {
        w.path.split("/")[-2]: math.prod(w.shape) for w in attention.weights if "kernel" in w.path
    }
    per_head = 5 + (value_dim or 5)  # q.k over key_dim, then weights x values over value_dim
    expected = (
        10 * kernels["query"] + 4 * kernels["key"] + 4 * kernels["value"]
        + 10 * kernels["attention_output"] + 3 * 10 * 4 * per_head
    )  # fmt: skip
    assert _entry(model, "mha").macs_before == expected


def test_a_convolution_feeding_an_lstm_is_not_most_of_the_model():
    model = keras.Sequential(
        [
            keras.Input((32, 2)),
            L.Conv1D(16, 5, name="conv"),
            L.LSTM(8, name="lstm"),
            L.Dense(2, name="head"),
        ]
    )
    size = trimmed_size(model)
    lstm = 28 * _kernel_sizes(model.get_layer("lstm"))
    assert size.macs_before == 28 * 5 * 2 * 16 + lstm + 8 * 2
    assert size.macs == size.macs_before  # nothing to trim: the LSTM's cost stays
