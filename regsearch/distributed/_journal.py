"""Each worker's own record of the trials it ran and what it reported to the chief.

A regsearch worker appends one JSON line per event to
``<project>/regsearch_workers/<tuner_id>.jsonl``: ``begin`` when it receives a
trial, ``end`` with the status, the metrics it sent (``UpdateTrial``) and the
failure message (if any) when it reports the end. It shows which worker ran which
trial, and lets one check that the chief recorded what the workers reported.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

FOLDER = "regsearch_workers"


class Journal:
    """Appends events to one worker's journal file."""

    def __init__(self, project_dir: str | os.PathLike[str], tuner_id: str) -> None:
        self.tuner_id = tuner_id
        self.path = Path(project_dir) / FOLDER / f"{tuner_id}.jsonl"

    def write(self, event: str, trial_id: str, **fields: Any) -> None:
        record: dict[str, Any] = {"event": event, "trial_id": trial_id, "tuner_id": self.tuner_id}
        record.update(fields)
        record["time"] = time.time()
        # Made here, not once: the chief may have just cleared the project (overwrite=True).
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
            file.flush()


def read_journal(project_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every worker's events in ``project_dir``, in time order.

    A line cut short (a worker killed while writing) is skipped.
    """
    events = []
    for path in sorted((Path(project_dir) / FOLDER).glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return sorted(events, key=lambda e: e.get("time", 0.0))
