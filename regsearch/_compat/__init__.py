"""The one place where regsearch reaches private Keras and keras-tuner names.

Keras and keras-tuner export no public API for a few things regsearch needs
(walking a model's layer graph, the layer whose call is running, keras-tuner's
distributed protocol and oracle state). Every such use lives in this package,
each in a small documented function, so that a Keras or keras-tuner release
that moves one breaks one function here, not the library:

- ``regsearch._compat.keras``: Keras internals (light: imports Keras only);
- ``regsearch._compat.keras_tuner``: keras-tuner engine internals;
- ``regsearch._compat.distribute``: keras-tuner's gRPC chief/worker protocol
  (imports grpc; only the distributed search needs it).

The versions they were checked against are pinned in ``pyproject.toml``
(``keras>=3.14,<4``, ``keras-tuner>=1.4.8,<1.5``). ``compat_test.py`` fails when
any other regsearch module uses a private Keras / keras-tuner name, or when this
package starts using one not listed in ``PRIVATE_NAMES``.
"""

from __future__ import annotations

# Every private Keras / keras-tuner name this package reaches: attributes
# (``obj._name``, ``getattr(obj, "_name")``, overridden ``_methods``) and
# ``keras.src`` / ``keras_tuner.src`` modules. Adding one is a conscious decision:
# write a small function for it in this package and list it here.
PRIVATE_NAMES = frozenset(
    {
        # Keras
        "keras.src.backend.common.global_state",
        "keras.src.models.functional.Functional",
        "_functional",
        "_keras_history",
        "_layers",
        "_nodes_by_depth",
        "_run_through_graph",
        # keras-tuner
        "keras_tuner.src.distribute.oracle_chief",
        "keras_tuner.src.distribute.oracle_client",
        "keras_tuner.src.distribute.utils",
        "keras_tuner.src.engine.conditions",
        "keras_tuner.src.protos",
        "_brackets",
        "_build_hypermodel",
        "_current_bracket",
        "_current_iteration",
        "_get_num_brackets",
        "_increment_bracket_num",
        "_get_oracle_fname",
        "_oracle",
        "_retry_queue",
        "_try_build",
    }
)
