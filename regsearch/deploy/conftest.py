"""The examples in this package's docstrings convert models: TensorFlow backend only."""

from __future__ import annotations

import keras
import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if keras.backend.backend() == "tensorflow":
        return
    reason = (
        "the LiteRT converter reads TensorFlow graphs: the examples need KERAS_BACKEND=tensorflow"
    )
    for item in items:
        if isinstance(item, pytest.DoctestItem) and "regsearch.deploy" in item.name:
            item.add_marker(pytest.mark.skip(reason=reason))
