"""The compiled loss as a metric, without regularization penalties."""

from __future__ import annotations

from typing import Any

import keras


def same_rank(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """``y_true`` and ``y_pred`` at one rank, as Keras's losses align them.

    Labels of shape ``(n,)`` against predictions of shape ``(n, 1)`` (a sigmoid
    output with ``binary_crossentropy``) gain an axis; a trailing axis of 1 on the
    longer one is dropped otherwise. Other shapes pass as they are.
    """
    rank_true, rank_pred = len(y_true.shape), len(y_pred.shape)
    if rank_true == rank_pred + 1 and y_true.shape[-1] == 1:
        if rank_pred == 1:
            return y_true, keras.ops.expand_dims(y_pred, -1)
        return keras.ops.squeeze(y_true, -1), y_pred
    if rank_pred == rank_true + 1 and y_pred.shape[-1] == 1:
        if rank_true == 1:
            return keras.ops.expand_dims(y_true, -1), y_pred
        return y_true, keras.ops.squeeze(y_pred, -1)
    return y_true, y_pred


@keras.saving.register_keras_serializable(package="regsearch")
class DataLoss(keras.metrics.Mean):
    """Mean of a loss function over the data, without regularization penalties.

    Keras adds weight and activity penalties to ``loss`` and ``val_loss``; this
    metric logs the loss of the predictions alone (``data_loss`` and
    ``val_data_loss``), which is what a trimmed or exported model reproduces.

    Args:
        loss: A loss name, function or ``keras.losses.Loss`` instance.
        name: The metric name.

    Examples:
        >>> import keras, regsearch.search
        >>> metric = regsearch.search.DataLoss("mse")
        >>> metric.update_state([[1.0]], [[3.0]])
        >>> float(metric.result())
        4.0
    """

    def __init__(self, loss: Any = "mse", name: str = "data_loss", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.loss = keras.losses.get(loss) if isinstance(loss, (str, dict)) else loss
        if self.loss is None or not callable(self.loss):
            raise TypeError(f"Argument `loss` must be a loss name or callable; received {loss!r}.")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        fn = self.loss.call if isinstance(self.loss, keras.losses.Loss) else self.loss
        y_pred = keras.ops.convert_to_tensor(y_pred, dtype=self.dtype)
        y_true = keras.ops.convert_to_tensor(y_true, dtype=y_pred.dtype)
        values = fn(*same_rank(y_true, y_pred))
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "loss": keras.losses.serialize(self.loss)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DataLoss:
        config = dict(config)
        config["loss"] = keras.losses.deserialize(config["loss"])
        return cls(**config)
