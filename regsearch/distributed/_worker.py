"""A worker: keras-tuner's ``OracleClient`` plus heartbeats, failure messages, a journal."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import keras_tuner
from keras_tuner.engine import trial as trial_module
from keras_tuner.engine.base_tuner import BaseTuner

from regsearch._compat.distribute import CLIENT_TIMEOUT, OracleClient, client_oracle
from regsearch.distributed._journal import Journal
from regsearch.distributed._link import ChiefLink


class _PatientStub:
    """keras-tuner's stub, calling again when the chief went away mid-call.

    keras-tuner's calls wait for the chief to be reachable (``wait_for_ready``),
    but a call in flight when the chief dies fails with ``UNAVAILABLE`` and ends
    the worker. Calling again is safe: a restarted chief gives a worker back
    its running trial (never one that has ended), and records the end of a
    trial once however often ``EndTrial`` arrives (the worker cannot know
    whether the chief saved it before dying); an ``UpdateTrial`` sent twice
    adds the same value at the same step, which leaves the trial's metrics as
    they were.
    """

    def __init__(self, stub: Any, patience: float) -> None:
        self._stub = stub
        self._patience = patience

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._stub, name)

        def call(request: Any, **kwargs: Any) -> Any:
            deadline = time.monotonic() + self._patience
            while True:
                try:
                    return method(request, **kwargs)
                except grpc.RpcError as error:
                    if error.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                        raise
                time.sleep(1.0)

        return call


class WorkerOracleClient(OracleClient):
    """keras-tuner's client for the chief's oracle, sending what its protocol drops.

    - Before ``EndTrial`` of a trial that ended with a message (a failed trial's
      reason and traceback), it sends the message to the chief, which stores it
      with the trial.
    - It calls the chief again when a call fails because the chief restarted.
    - It tells the heartbeat thread which trial is running.
    - It writes the worker's journal (see ``_journal``).
    """

    def __init__(self, oracle: keras_tuner.Oracle, *, link: ChiefLink, journal: Journal) -> None:
        super().__init__(oracle)
        self.stub: Any = _PatientStub(self.stub, patience=CLIENT_TIMEOUT)
        self._link = link
        self._journal = journal
        self._reported: dict[str, tuple[dict[str, float], int]] = {}

    def create_trial(self, tuner_id: str) -> trial_module.Trial:
        trial = super().create_trial(tuner_id)
        if trial.status == trial_module.TrialStatus.RUNNING:
            self._link.trial_id = trial.trial_id
            self._journal.write("begin", trial.trial_id)
        return trial

    def update_trial(self, trial_id: str, metrics: Any, step: int = 0) -> Any:
        self._reported[trial_id] = ({k: float(v) for k, v in metrics.items()}, int(step))
        return super().update_trial(trial_id, metrics, step=step)

    def end_trial(self, trial: trial_module.Trial) -> None:
        if trial.message:
            self._link.send_trial_message(trial.trial_id, trial.message)
        super().end_trial(trial)
        metrics, step = self._reported.pop(trial.trial_id, ({}, 0))
        self._journal.write(
            "end",
            trial.trial_id,
            status=trial.status,
            metrics=metrics,
            step=step,
            message=trial.message,
        )
        self._link.trial_id = None


def run_worker(
    tuner: BaseTuner, search_kwargs: dict[str, Any], *, address: str, tuner_id: str
) -> None:
    """Run ``tuner.search`` as worker ``tuner_id`` of the chief at ``address``."""
    client = tuner.oracle
    if not isinstance(client, OracleClient):
        raise RuntimeError(
            "The tuner was built before the KERASTUNER_* environment variables were set; "
            "build it inside the search function."
        )
    link = ChiefLink(address, tuner_id)
    tuner.oracle = WorkerOracleClient(
        client_oracle(client), link=link, journal=Journal(tuner.project_dir, tuner_id)
    )
    link.start_heartbeats()
    try:
        tuner.search(**search_kwargs)
    finally:
        link.close()
