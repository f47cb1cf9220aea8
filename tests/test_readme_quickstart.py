"""The README's quickstart, run as written: its chosen model has short kernels and a
validation loss close to the best trial's."""

import os
import re
from pathlib import Path

import keras
import pytest

import regsearch

README = Path(__file__).resolve().parents[1] / "README.md"


def quickstart_code() -> str:
    """The first ```python block under the README's "## Quickstart" heading."""
    text = README.read_text()
    section = text.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "the README's Quickstart section has no ```python block"
    return blocks[0]


@pytest.mark.slow
def test_readme_quickstart_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # it writes runs/, pareto.png and small.keras
    keras.utils.set_random_seed(0)
    namespace: dict = {"__name__": "quickstart"}
    exec(compile(quickstart_code(), str(README), "exec"), namespace)

    small = namespace["small"]
    taps = [
        layer.kernel.shape[0] for layer in small.layers if isinstance(layer, keras.layers.Conv1D)
    ]
    assert len(taps) == 2 and max(taps) <= 7, f"kernel taps of the chosen model: {taps}"

    table = regsearch.results(namespace["tuner"])
    best_loss = table.loc[table["status"] == "COMPLETED", "val_data_loss"].min()
    x_val, y_val = namespace["x_val"], namespace["y_val"]
    loss = small.evaluate(x_val, y_val, verbose=0, return_dict=True)["loss"]
    assert loss <= 1.1 * best_loss, f"chosen {loss:.5f} vs best trial {best_loss:.5f}"
    assert os.path.getsize("small.keras") > 0 and os.path.getsize("pareto.png") > 0
