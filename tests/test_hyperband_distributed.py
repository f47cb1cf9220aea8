"""A ParetoHyperband on keras-tuner's chief/worker engine: a chief and two workers on loopback.

Every process runs ``make_search`` of ``test_distributed.py`` with ``RS_TUNER=hyperband``;
the oracle, and its brackets, live on the chief only.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import regsearch
from regsearch.distributed import read_journal
from tests.test_distributed import TARGET


def _layer_weights(path: Path) -> dict[str, np.ndarray]:
    """The layer variables of a ``.weights.h5`` file (not the optimizer's), by name."""
    found: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as file:
        file["layers"].visititems(
            lambda name, item: (
                found.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None
            )
        )
    return found


@pytest.mark.slow
def test_a_chief_and_two_workers_run_the_brackets_and_continue_promoted_trials(tmp_path):
    # max_epochs=3, factor 3: 3 trials of 1 epoch, the best continued to 3, 2 of 3.
    env = {"RS_DIR": str(tmp_path), "RS_EPOCHS": "3", "RS_TUNER": "hyperband"}
    run = regsearch.run_distributed(
        TARGET, n_workers=2, timeout=300, env={**env, "KERAS_BACKEND": "tensorflow"}, verbose=False
    )
    assert run.complete, run.message
    table = run.results
    assert sorted(table["status"]) == ["COMPLETED"] * 6
    assert sorted(table["tuner/epochs"]) == [1, 1, 1, 3, 3, 3]
    ends = [e for e in read_journal(run.project_dir) if e["event"] == "end"]
    assert {e["tuner_id"] for e in ends} == {"tuner0", "tuner1"}
    assert sorted(e["trial_id"] for e in ends) == sorted(table["trial_id"])  # each once
    (child,) = table[table["tuner/trial_id"].notna()].to_dict("records")
    parent = table.set_index("trial_id").loc[child["tuner/trial_id"]]
    assert parent["tuner/epochs"] == child["tuner/initial_epoch"] == 1
    # The parent's worker saved its penalized weights where the child's worker read them.
    project = Path(run.project_dir)
    assert (project / f"trial_{child['tuner/trial_id']}" / "penalized.weights.h5").exists()
    # Each worker fine-tuned (1 epoch) the trials trained to max_epochs only: the
    # checkpoint keras-tuner loads is the penalized model for the others.
    for trial_id, epochs in zip(table["trial_id"], table["tuner/epochs"]):
        directory = project / f"trial_{trial_id}"
        checkpoint, penalized = (
            _layer_weights(directory / name)
            for name in ("checkpoint.weights.h5", "penalized.weights.h5")
        )
        same = checkpoint.keys() == penalized.keys() and all(
            np.array_equal(checkpoint[k], penalized[k]) for k in checkpoint
        )
        assert same == (epochs < 3), (trial_id, epochs)
    # Only the chief holds the oracle's state.
    assert [p.name for p in Path(tmp_path).rglob("oracle.json")] == ["oracle.json"]
