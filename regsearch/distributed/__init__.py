"""Distributed search on keras-tuner's chief/worker engine.

A regsearch search runs on keras-tuner's own distributed mode (a chief oracle and
workers over gRPC, set up by ``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT``). regsearch adds what a long search on several machines
needs: failure messages that reach the chief, a bounded wait for workers that
died, and a launcher to try it all on one machine.

- ``run_distributed``: a chief and N workers on this machine.
- ``run_node``: this process as the chief or a worker (several machines).
- ``open_search``: read a saved search (local or distributed) from its directory.

``LocalCluster``, the processes ``run_distributed`` starts, is importable from
here but not in ``__all__``.
"""

from regsearch.distributed._directory import SavedSearch, open_search
from regsearch.distributed._journal import read_journal
from regsearch.distributed._launch import DistributedRun, run_distributed
from regsearch.distributed._launch import LocalCluster as LocalCluster
from regsearch.distributed._node import DEFAULT_WORKER_TIMEOUT as DEFAULT_WORKER_TIMEOUT
from regsearch.distributed._node import run_node

__all__ = [
    "DistributedRun",
    "SavedSearch",
    "open_search",
    "read_journal",
    "run_distributed",
    "run_node",
]
