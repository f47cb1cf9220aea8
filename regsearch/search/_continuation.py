"""Save a trial's weights where its penalized training stopped, for a later continuation."""

from __future__ import annotations

import os
from typing import Any

import keras


class SavePenalizedWeights(keras.callbacks.Callback):
    """Save the model's weights when its penalized training ends (before any fine-tune).

    ``RegSearchHyperModel.fit`` hands this callback to the penalized ``fit`` only:
    with ``finetune_epochs`` the file holds the weights at the last penalized
    epoch, not the fine-tuned ones keras-tuner checkpoints; without fine-tuning,
    the weights at the last epoch trained. A multi-fidelity search
    (``regsearch.ParetoHyperband``) continues a promoted trial from this file, so
    the continuation resumes the penalized training where it stopped: no epoch is
    trained twice and no fine-tune epoch carries over into the next round.

    Args:
        filepath: Where to save (a ``.weights.h5`` path; its directory is created).

    Examples:
        >>> import keras, numpy as np, os, tempfile, regsearch
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> path = os.path.join(tempfile.mkdtemp(), "penalized.weights.h5")
        >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0,
        ...               callbacks=[regsearch.search.SavePenalizedWeights(path)])
        >>> os.path.exists(path)
        True
    """

    def __init__(self, filepath: str | os.PathLike[str]) -> None:
        super().__init__()
        path = os.fspath(filepath)
        if not path.endswith(".weights.h5"):
            raise ValueError(
                f"Argument `filepath` must end with '.weights.h5' (Keras's weights "
                f"format); received {filepath!r}."
            )
        self.filepath = path

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        directory = os.path.dirname(self.filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.model.save_weights(self.filepath)
