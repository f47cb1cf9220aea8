"""keras-tuner's distributed protocol (gRPC chief and client), which it does not export.

regsearch's chief subclasses keras-tuner's ``OracleServicer`` and its workers
keras-tuner's ``OracleClient`` (see ``regsearch.distributed``); both live under
``keras_tuner.src.distribute`` with no public alias. Importing this module
imports grpc.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from typing import Any

import grpc
import keras_tuner
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief, oracle_client
from keras_tuner.src.distribute import utils as distribute_utils
from keras_tuner.src.engine import conditions

OracleServicer = oracle_chief.OracleServicer
OracleClient = oracle_client.OracleClient
# How long keras-tuner's client waits for the chief (seconds).
CLIENT_TIMEOUT: float = oracle_client.TIMEOUT


def service() -> types.ModuleType:
    """keras-tuner's protobuf messages (``CreateTrialRequest``, ``EndTrialResponse``, ...)."""
    return protos.get_service()


def add_servicer_to_server(servicer: oracle_chief.OracleServicer, server: grpc.Server) -> None:
    """Register an ``OracleServicer`` on a ``grpc.Server``, as keras-tuner's chief does."""
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)


def chief_may_exit(oracle: keras_tuner.Oracle) -> bool:
    """keras-tuner's own test for the chief to stop: every worker told to stop, none running."""
    return bool(oracle_chief.exit_chief(oracle))


def is_chief() -> bool:
    """Whether this process is the chief (``KERASTUNER_TUNER_ID == "chief"`` and an address)."""
    return bool(distribute_utils.is_chief_oracle())


def client_oracle(client: oracle_client.OracleClient) -> keras_tuner.Oracle:
    """The local oracle an ``OracleClient`` wraps (kept in its private ``_oracle``)."""
    oracle: keras_tuner.Oracle = client._oracle
    return oracle


def silence_conditions_print() -> None:
    """Drop the debug ``print`` keras-tuner 1.4.8 makes for each conditional hyperparameter.

    ``Parent.to_proto`` prints the condition's value each time a conditional
    hyperparameter crosses gRPC (regsearch's strengths are conditional): one
    stray line per call. This shadows ``print`` in that module only.
    """
    conditions.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]


@contextlib.contextmanager
def tuners_never_overwrite() -> Iterator[None]:
    """Build keras-tuner tuners with ``overwrite=False`` inside this block.

    A worker shares the chief's project directory; with the user's
    ``overwrite=True`` a (re)started worker would delete the trials the chief
    has saved, and keras-tuner deletes them in ``BaseTuner.__init__`` with no
    hook to stop it. The block patches ``BaseTuner.__init__`` in this process,
    for the call of the user's search function, and restores it after.
    """
    base_tuner = keras_tuner.engine.base_tuner.BaseTuner
    original = base_tuner.__init__

    def __init__(self: keras_tuner.engine.base_tuner.BaseTuner, *args: Any, **kwargs: Any) -> None:
        if len(args) > 4:  # BaseTuner(oracle, hypermodel, directory, project_name, overwrite)
            args = (*args[:4], False, *args[5:])
        else:
            kwargs["overwrite"] = False
        original(self, *args, **kwargs)

    base_tuner.__init__ = __init__  # type: ignore[method-assign]
    try:
        yield
    finally:
        base_tuner.__init__ = original  # type: ignore[method-assign]
