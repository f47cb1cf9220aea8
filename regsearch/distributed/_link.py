"""Two small RPCs regsearch adds next to keras-tuner's ``Oracle`` service.

keras-tuner's protocol has no field for a failed trial's message
(``Trial.to_proto`` drops ``trial.message``) and no way for the chief to tell a
worker that is training from one that is gone: a worker only calls the chief
between trials. A regsearch worker therefore sends

- ``Heartbeat {tuner_id, trial_id}`` every few seconds, from a background thread;
- ``TrialMessage {trial_id, message}`` just before ``EndTrial`` of a trial that
  ended with a message.

Both are served by the chief's gRPC server (the one keras-tuner's servicer runs
on), as a generic service with JSON payloads, so keras-tuner's own messages are
untouched. A worker talking to a plain keras-tuner chief keeps working without
them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

SERVICE = "regsearch.distributed.Chief"
HEARTBEAT = "Heartbeat"
TRIAL_MESSAGE = "TrialMessage"
# Seconds between two heartbeats of a worker.
HEARTBEAT_INTERVAL = 2.0


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode("utf-8")


def _decode(data: bytes) -> dict[str, Any]:
    return json.loads(data.decode("utf-8"))


def handler(methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]]) -> Any:
    """A gRPC generic handler serving ``methods`` (name -> function of a dict)."""
    import grpc

    def unary(function: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: function(request),
            request_deserializer=_decode,
            response_serializer=_encode,
        )

    return grpc.method_handlers_generic_handler(
        SERVICE, {name: unary(function) for name, function in methods.items()}
    )


class ChiefLink:
    """The worker's end: heartbeats and trial messages to the chief at ``address``."""

    def __init__(self, address: str, tuner_id: str) -> None:
        import grpc

        self.tuner_id = tuner_id
        self.trial_id: str | None = None
        self.supported = True
        self._channel = grpc.insecure_channel(address)
        self._calls = {
            name: self._channel.unary_unary(
                f"/{SERVICE}/{name}", request_serializer=_encode, response_deserializer=_decode
            )
            for name in (HEARTBEAT, TRIAL_MESSAGE)
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _call(self, name: str, payload: dict[str, Any], *, timeout: float) -> bool:
        import grpc

        if not self.supported:
            return False
        try:
            self._calls[name](payload, timeout=timeout, wait_for_ready=False)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                # A plain keras-tuner chief: trials still run, without these extras.
                self.supported = False
                print(
                    "regsearch: the chief is a plain keras-tuner chief; failure messages of "
                    "trials and worker heartbeats are not sent. Start the chief with "
                    "`regsearch distributed --node` to have them.",
                    flush=True,
                )
            return False
        return True

    def send_trial_message(self, trial_id: str, message: str) -> None:
        # The chief may be restarting: wait for it like keras-tuner's own calls do.
        import grpc

        if not self.supported:
            return
        try:
            self._calls[TRIAL_MESSAGE](
                {"trial_id": trial_id, "message": message}, timeout=600.0, wait_for_ready=True
            )
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                self.supported = False

    def start_heartbeats(self, interval: float = HEARTBEAT_INTERVAL) -> None:
        def beat() -> None:
            while not self._stop.wait(interval):
                payload = {"tuner_id": self.tuner_id, "trial_id": self.trial_id}
                self._call(HEARTBEAT, payload, timeout=max(interval, 1.0))
                if not self.supported:
                    return

        self._call(HEARTBEAT, {"tuner_id": self.tuner_id, "trial_id": None}, timeout=1.0)
        self._thread = threading.Thread(target=beat, name="regsearch-heartbeat", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._channel.close()
