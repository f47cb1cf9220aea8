"""The chief: keras-tuner's ``OracleServicer`` on a gRPC server, with a bounded wait.

keras-tuner's ``oracle_chief.start_server`` serves the oracle until every worker
has been told to stop and no trial is running, and waits forever for a worker
that died. This runs the same servicer (a subclass) and the same exit test, and
also watches the workers:

- a worker is *heard from* when it calls the oracle or sends a heartbeat
  (regsearch workers send one every few seconds, also while training);
- a worker not heard from for ``worker_timeout`` seconds is *missing*: its
  running trial goes back to keras-tuner's retry queue, to be run by the next
  worker that asks (the same worker id, restarted, gets it back first);
- when no worker has been heard from for ``worker_timeout`` seconds, the chief
  ends the search with a message naming the missing workers. Every finished
  trial is on disk already (keras-tuner saves each one as it ends).

It also carries the messages of failed trials across (keras-tuner's protocol
drops them), and, after a restart, gives every worker back the trial it was
running (keras-tuner would queue those trials to run again, twice if their
workers were still training).

A trial ends once, whenever the chief dies (see ``restore_ongoing_trials`` and
``_end_trial``):

- keras-tuner's ``Oracle.end_trial`` saves ``oracle.json`` *before* it forgets
  the ended trial's worker, so until the next save the file still lists a
  finished trial as running. A chief killed in that window and restarted must
  not hand that trial out again (keras-tuner's ``reload`` would queue it to run
  again; its worker, asking for a trial, would get it back and run it twice).
- A worker cannot know whether a chief that died during its ``EndTrial`` saved
  the result, so it sends it again to the restarted chief. The chief records
  the end of a trial that has already ended once, and ignores the repeat.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import keras_tuner
from keras_tuner import synchronized
from keras_tuner.engine import trial as trial_module

from regsearch._compat.distribute import (
    OracleServicer,
    add_servicer_to_server,
    chief_may_exit,
    service,
)
from regsearch._compat.keras_tuner import oracle_file, retry_queue
from regsearch.distributed import _link


@dataclasses.dataclass
class ChiefOutcome:
    """How the chief's service ended."""

    complete: bool
    # Worker id -> the trial it was running when it went missing (None between trials).
    missing: dict[str, str | None]
    message: str


@synchronized
def _snapshot(oracle: keras_tuner.Oracle) -> tuple[dict[str, str], set[str], list[str]]:
    ongoing = {tuner_id: trial.trial_id for tuner_id, trial in oracle.ongoing_trials.items()}
    return ongoing, set(oracle.tuner_ids), list(retry_queue(oracle))


@synchronized
def _release(oracle: keras_tuner.Oracle, tuner_id: str) -> str | None:
    """Forget a missing worker; queue its running trial for the next worker."""
    oracle.tuner_ids.discard(tuner_id)
    trial = oracle.ongoing_trials.pop(tuner_id, None)
    if trial is None:
        return None
    if trial.trial_id not in retry_queue(oracle):
        retry_queue(oracle).append(trial.trial_id)
    oracle.save()
    return str(trial.trial_id)


@synchronized
def _finished(oracle: keras_tuner.Oracle) -> bool:
    return chief_may_exit(oracle) and not retry_queue(oracle)


def _ended(oracle: keras_tuner.Oracle, trial_id: str) -> bool:
    """Whether the chief has recorded the end of ``trial_id`` (it ended, or awaits a retry).

    The chief marks every trial it hands out RUNNING (``create_trial``,
    ``restore_ongoing_trials``) until its end is recorded.
    """
    trial = oracle.trials.get(trial_id)
    return trial is not None and trial.status != trial_module.TrialStatus.RUNNING


def _forget_worker_of(oracle: keras_tuner.Oracle, trial_id: str) -> None:
    for tuner_id, trial in list(oracle.ongoing_trials.items()):
        if trial.trial_id == trial_id:
            oracle.ongoing_trials.pop(tuner_id)


@synchronized
def _end_trial(oracle: keras_tuner.Oracle, trial: trial_module.Trial) -> bool:
    """End ``trial`` once; ``False`` for a repeated ``EndTrial`` (nothing recorded)."""
    if _ended(oracle, trial.trial_id):
        # The worker sent it again: the chief died after saving the result and
        # before answering. The first result stands.
        _forget_worker_of(oracle, trial.trial_id)
        return False
    # A result that arrives for a queued trial (its worker was thought missing,
    # or the chief restarted) ends it: it is not run again.
    if trial.trial_id in retry_queue(oracle):
        retry_queue(oracle).remove(trial.trial_id)
    oracle.end_trial(trial)
    return True


def _remove_last(queue: list[str], item: str) -> None:
    for index in range(len(queue) - 1, -1, -1):
        if queue[index] == item:
            del queue[index]
            return


@synchronized
def restore_ongoing_trials(oracle: keras_tuner.Oracle, ongoing: dict[str, str]) -> None:
    """Give each worker back the trial it was running before the chief restarted.

    ``ongoing`` is the ``ongoing_trials`` saved in ``oracle.json`` (worker id ->
    trial id), which ``Oracle.reload`` has just queued to run again: a worker
    that kept training through the restart would then report a trial that
    another worker is running a second time.

    A trial listed there may have ended already: ``Oracle.end_trial`` saves the
    file before it forgets the trial's worker. Such a trial (in the saved
    ``end_order``, or queued for a retry by ``end_trial``) is neither given back
    nor queued again. A trial saved as running that the file does not mention
    (the chief died inside ``create_trial``) is queued, so that it is run.
    """
    queue = retry_queue(oracle)
    for trial_id in ongoing.values():  # undo reload's queueing: the queue as it was saved
        _remove_last(queue, trial_id)
    for tuner_id, trial_id in ongoing.items():
        trial = oracle.trials.get(trial_id)
        if trial is None or trial_id in oracle.end_order or trial_id in queue:
            continue
        # Running, also when its file says INVALID: create_trial does not save the
        # trial it takes from the retry queue.
        trial.status = trial_module.TrialStatus.RUNNING
        oracle.ongoing_trials[tuner_id] = trial
    for trial_id, trial in oracle.trials.items():
        if (
            trial.status == trial_module.TrialStatus.RUNNING
            and trial_id not in ongoing.values()
            and trial_id not in queue
            and trial_id not in oracle.end_order
        ):
            queue.append(trial_id)
    oracle.save()


def _saved_ongoing_trials(oracle: keras_tuner.Oracle) -> dict[str, str]:
    path = Path(oracle_file(oracle))
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("ongoing_trials", {}))
    except (OSError, ValueError):
        return {}


def resume(oracle: keras_tuner.Oracle) -> None:
    """Take the search up where the chief's last ``oracle.json`` left it (a restart)."""
    restore_ongoing_trials(oracle, _saved_ongoing_trials(oracle))


class ChiefServicer(OracleServicer):
    """keras-tuner's servicer, noting when each worker was last heard from."""

    def __init__(
        self, oracle: keras_tuner.Oracle, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(oracle)
        self.clock = clock
        self.started = clock()
        self.last_seen: dict[str, float] = {}
        self.last_contact = self.started
        self._messages: dict[str, str] = {}

    def _heard_from(self, tuner_id: str) -> None:
        now = self.clock()
        self.last_seen[tuner_id] = now
        self.last_contact = now

    def _heard_about(self, trial_id: str) -> None:
        self.last_contact = self.clock()
        for tuner_id, trial in list(self.oracle.ongoing_trials.items()):
            if trial.trial_id == trial_id:
                self._heard_from(tuner_id)

    def CreateTrial(self, request: Any, context: Any) -> Any:
        self._heard_from(request.tuner_id)
        return super().CreateTrial(request, context)

    def UpdateTrial(self, request: Any, context: Any) -> Any:
        self._heard_about(request.trial_id)
        return super().UpdateTrial(request, context)

    def EndTrial(self, request: Any, context: Any) -> Any:
        self._heard_about(request.trial.trial_id)
        trial = trial_module.Trial.from_proto(request.trial)
        trial.message = self._messages.pop(trial.trial_id, None)
        _end_trial(self.oracle, trial)
        return service().EndTrialResponse()

    # regsearch's own RPCs (see _link).
    def heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._heard_from(str(payload["tuner_id"]))
        return {}

    def trial_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        self._messages[str(payload["trial_id"])] = str(payload["message"])
        return {}


def start_server(oracle: keras_tuner.Oracle, address: str) -> tuple[grpc.Server, ChiefServicer]:
    """Serve ``oracle`` at ``address`` (``host:port``) as keras-tuner's chief does."""
    servicer = ChiefServicer(oracle)
    # One thread, as keras-tuner's chief: the oracle is not safe for concurrent calls.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    add_servicer_to_server(servicer, server)
    server.add_generic_rpc_handlers(
        (
            _link.handler(
                {_link.HEARTBEAT: servicer.heartbeat, _link.TRIAL_MESSAGE: servicer.trial_message}
            ),
        )
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as error:  # grpc >= 1.60 raises, older versions return 0
        raise OSError(f"The chief cannot listen on {address}: {error}") from error
    if not port:
        raise OSError(f"The chief cannot listen on {address} (is the port in use?).")
    server.start()
    return server, servicer


def _names(tuner_ids: Iterable[str]) -> str:
    return ", ".join(repr(t) for t in sorted(tuner_ids))


def wait(
    oracle: keras_tuner.Oracle,
    servicer: ChiefServicer,
    *,
    worker_timeout: float,
    poll_interval: float = 0.5,
    log: Callable[[str], None] = print,
) -> ChiefOutcome:
    """Block until the search is done or no worker has been heard from for a while."""
    clock = servicer.clock
    missing: dict[str, str | None] = {}
    while True:
        time.sleep(poll_interval)
        if servicer.stop_triggered and _finished(oracle):
            message = "regsearch: every trial of the search has ended."
            if missing:
                message += f" Worker(s) {_names(missing)} went missing during the search."
            return ChiefOutcome(complete=True, missing=missing, message=message)
        now = clock()
        ongoing, tuner_ids, _ = _snapshot(oracle)
        for tuner_id in sorted(tuner_ids | set(ongoing)):
            silent = now - servicer.last_seen.get(tuner_id, servicer.started)
            if silent > worker_timeout:
                requeued = _release(oracle, tuner_id)
                missing[tuner_id] = requeued
                running = f" (it was running trial {requeued}; queued to run again)"
                log(
                    f"regsearch: worker {tuner_id!r} has not been heard from for "
                    f"{silent:.0f} s: it is missing{running if requeued else ''}."
                )
        for tuner_id in list(missing):
            if servicer.last_seen.get(tuner_id, -1.0) > now - worker_timeout:
                log(f"regsearch: worker {tuner_id!r} is back.")
                missing.pop(tuner_id)
        if now - servicer.last_contact > worker_timeout:
            return _timed_out(oracle, missing, worker_timeout)


def _timed_out(
    oracle: keras_tuner.Oracle, missing: dict[str, str | None], worker_timeout: float
) -> ChiefOutcome:
    _, _, queued = _snapshot(oracle)
    done = [t for t in oracle.trials.values() if t.status != trial_module.TrialStatus.RUNNING]
    if missing:
        who = ", ".join(
            f"{t!r}" + (f" (running trial {trial})" if trial else "")
            for t, trial in sorted(missing.items())
        )
        head = f"no word from worker(s) {who} for more than {worker_timeout:g} s"
    else:
        head = f"no worker connected within {worker_timeout:g} s"
    unfinished = f" Trials not finished: {sorted(queued)}." if queued else ""
    message = (
        f"regsearch: the chief stopped waiting: {head} (worker_timeout). "
        f"The {len(done)} ended trials are kept in {Path(oracle_file(oracle)).parent}.{unfinished} "
        f"To go on, start the chief again with overwrite=False and start workers (a restarted "
        f"worker with the same KERASTUNER_TUNER_ID runs its interrupted trial again)."
    )
    return ChiefOutcome(complete=False, missing=missing, message=message)
