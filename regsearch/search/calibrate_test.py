import keras
import keras_tuner
import numpy as np
import pytest
from keras_tuner.errors import FatalTypeError

import regsearch
from regsearch.search._calibrate import (
    calibrate_gradient_strengths,
    calibrate_strengths,
    data_loss,
    first_samples,
)


def _model():
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(
        8, kernel_regularizer=regsearch.regularizers.StructuredSparsity(0.5), name="hidden"
    )(inputs)
    outputs = keras.layers.Dense(
        1, kernel_regularizer=regsearch.regularizers.GroupLasso(0.1), name="out"
    )(hidden)
    return keras.Model(inputs, outputs)


def test_each_penalty_becomes_its_strength_times_the_data_loss():
    keras.utils.set_random_seed(0)
    model = _model()
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    y = x[:, :1] * 2.0
    loss = data_loss(model, "mse", x, y)
    expected = float(np.mean((keras.ops.convert_to_numpy(model(x)) - y) ** 2))
    assert loss == pytest.approx(expected, rel=1e-5)
    scaled = calibrate_strengths(model, loss)
    assert len(scaled) == 2
    for layer, strength in (("hidden", 0.5), ("out", 0.1)):
        kernel = model.get_layer(layer).kernel
        penalty = float(keras.ops.convert_to_numpy(kernel.regularizer(kernel)))
        assert penalty == pytest.approx(strength * loss, rel=1e-5)


def _two_outputs(as_dict):
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, name="hidden")(inputs)
    first, second = keras.layers.Dense(1, name="a")(hidden), keras.layers.Dense(3, name="b")(hidden)
    return keras.Model(inputs, {"a": first, "b": second} if as_dict else [first, second])


@pytest.mark.parametrize(
    ("as_dict", "loss", "loss_weights"),
    [
        (True, {"a": "mse", "b": "sparse_categorical_crossentropy"}, {"a": 0.3, "b": 2.0}),
        (True, {"b": "sparse_categorical_crossentropy"}, None),  # output "a" has no loss
        (False, ["mse", "sparse_categorical_crossentropy"], [0.5, 1.5]),
        (False, "mse", None),  # one loss for every output
    ],
)
def test_the_data_loss_of_a_model_of_several_outputs_is_the_loss_keras_trains_on(
    as_dict, loss, loss_weights
):
    keras.utils.set_random_seed(0)
    model = _two_outputs(as_dict)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    classes = rng.integers(0, 3, size=(64,))
    if loss == "mse":
        y = [x[:, :1], x[:, :3]]
    else:
        y = {"a": x[:, :1], "b": classes} if as_dict else [x[:, :1], classes]
    model.compile(loss=loss, loss_weights=loss_weights)
    expected = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)["loss"]
    assert data_loss(model, loss, x, y, loss_weights) == pytest.approx(expected, rel=1e-5)


def test_the_data_loss_of_a_sigmoid_output_against_labels_of_one_axis_is_keras_loss():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy")
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")  # shape (64,) against predictions of (64, 1)
    expected = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)["loss"]
    assert data_loss(model, "binary_crossentropy", x, y) == pytest.approx(expected, rel=1e-5)


def test_first_samples_of_arrays_and_datasets():
    x = np.arange(20, dtype="float32").reshape(10, 2)
    y = np.arange(10, dtype="float32")
    got_x, got_y = first_samples(x, y, count=4)
    np.testing.assert_array_equal(got_x, x[:4])
    np.testing.assert_array_equal(got_y, y[:4])

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return x[index * 5 : index * 5 + 5], y[index * 5 : index * 5 + 5]

    got_x, got_y = first_samples(Batches(), None)
    np.testing.assert_array_equal(got_x, x[:5])


def test_coupled_penalties_are_calibrated_too():
    inputs = keras.Input((6,))
    a = keras.layers.Dense(4, name="a")(inputs)
    b = keras.layers.Dense(4, name="b")(a)
    model = keras.Model(inputs, keras.layers.Add()([a, b]))
    cross = regsearch.CrossLayer(["a", "b"], regsearch.regularizers.GroupLasso(0.2), flatten=True)
    model = regsearch.apply(model, cross_layer=[cross])
    scaled = calibrate_strengths(model, 0.5)
    (layer,) = [layer for layer in model.layers if isinstance(layer, regsearch.CrossLayer)]
    assert layer.name in scaled
    assert float(keras.ops.convert_to_numpy(layer.penalty())) == pytest.approx(0.2 * 0.5, rel=1e-5)


def test_a_growing_penalty_is_calibrated_at_full_strength():
    penalty = regsearch.regularizers.Growing(
        regsearch.regularizers.StructuredSparsity(0.5), start=0.1, growth=2.0
    )
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(4, kernel_regularizer=penalty, name="hidden")]
    )
    kernel = model.get_layer("hidden").kernel
    scaled = calibrate_strengths(model, 0.8)
    assert list(scaled) == [kernel.path]
    inner = kernel.regularizer.regularizer
    assert float(keras.ops.convert_to_numpy(inner(kernel))) == pytest.approx(0.4, rel=1e-5)
    # the multiplier is left as it is: the penalty now is a tenth of that
    assert float(keras.ops.convert_to_numpy(kernel.regularizer(kernel))) == pytest.approx(
        0.04, rel=1e-5
    )


def _gradient_norm(fn, variable):
    from regsearch.search._gradients import gradient_norms

    return gradient_norms(fn, [variable])[0]


def test_gradient_relative_strengths_pull_as_hard_as_the_data_times_the_strength():
    keras.utils.set_random_seed(0)
    model = _model()
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    y = x[:, :1] * 2.0
    scaled = calibrate_gradient_strengths(model, "mse", x, y)
    assert len(scaled) == 2
    for layer, strength in (("hidden", 0.5), ("out", 0.1)):
        kernel = model.get_layer(layer).kernel

        def data():
            return keras.ops.mean((model(x) - y) ** 2)

        wanted = _gradient_norm(data, kernel)
        assert wanted > 0
        penalty = _gradient_norm(lambda k=kernel: k.regularizer(k), kernel)
        assert penalty == pytest.approx(strength * wanted, rel=1e-4)


def test_gradient_relative_strengths_in_a_search_space_round_trip_and_train():
    space = regsearch.SearchSpace.for_size(relative_strength="gradient", strength=(0.1, 3.0))
    assert regsearch.SearchSpace.from_config(space.get_config()) == space
    with pytest.raises(ValueError, match="`relative_strength` must be False, True"):
        regsearch.SearchSpace(relative_strength="grad")
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    y = x[:, :1] * 2.0
    plain = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="hidden"),
                              keras.layers.Dense(1, name="out")])  # fmt: skip
    hypermodel = regsearch.RegSearchHyperModel(
        plain,
        space,
        compile={"optimizer": "adam", "loss": "mse"},
        finetune_epochs=0,
        penalty_warmup=False,  # calibrated before the first epoch (warmup_test: at its end)
    )
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    before = model.get_layer("hidden").kernel.regularizer.strength
    hypermodel.fit(hp, model, x, y, epochs=1, validation_data=(x, y), verbose=0)
    after = model.get_layer("hidden").kernel.regularizer.strength
    assert after != pytest.approx(before)  # calibrated before training


def test_a_generator_is_refused_before_a_batch_is_taken_from_it():
    x = np.arange(20, dtype="float32").reshape(10, 2)

    def batches():
        for start in range(0, 10, 5):
            yield x[start : start + 5], x[start : start + 5, :1]

    generator = batches()
    with pytest.raises(TypeError, match="'generator' without consuming them: pass arrays"):
        first_samples(generator, None)
    hypermodel = regsearch.RegSearchHyperModel(
        keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="out")]),
        regsearch.SearchSpace(kernel=["l1"], relative_strength=True),
        compile={"optimizer": "adam", "loss": "mse"},
        finetune_epochs=0,
    )
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    with pytest.raises(FatalTypeError, match=r"relative_strength=\.\.\.\) measures.*'generator'"):
        hypermodel.fit(hp, model, generator, validation_data=(x, x[:, :1]), epochs=1, verbose=0)
    np.testing.assert_array_equal(next(generator)[0], x[:5])  # nothing was read
