"""Build a trial's training state before its train step is first traced."""

from __future__ import annotations

from typing import Any

import keras

from regsearch.search._calibrate import first_samples, readable_twice


def build_training_state(model: keras.Model, x: Any, y: Any) -> None:
    """Create ``model``'s metric, loss and optimizer variables now, from ``fit``'s first sample.

    On TensorFlow without a distribution strategy, Keras creates them inside the first
    train step, and a ``tf.function`` that creates variables is traced a second time
    without them. For a trial's model that tracing can cost more than its epochs
    (a small ResNet: a trial took 1.4x as long). Built here, the step is traced
    once. The metric states this fills are reset when ``fit``'s first epoch starts.

    ``x`` may be arrays (with ``y``), a ``tf.data.Dataset`` or a
    ``keras.utils.PyDataset``; anything else (a generator, which reading would
    consume) is left to Keras, as on the other backends, which build before tracing,
    and so is a model built under a distribution strategy (keras-tuner's
    ``distribution_strategy=``): Keras builds that one before tracing too, in the
    strategy's scope.
    """
    if keras.backend.backend() != "tensorflow" or not readable_twice(x, y):
        return
    import tensorflow as tf  # the backend's own: whether the model has a strategy

    if model.distribute_strategy is not tf.distribute.get_strategy():
        return  # built under a distribution strategy, which Keras builds before tracing
    x_first, y_first = first_samples(x, y, count=1)
    y_pred = model(x_first, training=False)
    model.compute_loss(x_first, y_first, y_pred, training=False)
    model.compute_metrics(x_first, y_first, y_pred, sample_weight=None)
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
