"""Oracles: keras-tuner's Oracle API outside, an Optuna sampler and study inside.

- ``ParetoOracle``: asks an Optuna multi-objective sampler for every
  trial and tells it the trial's objective parts (validation metric, trimmed
  size, active outputs); usable with any keras-tuner tuner class.
- ``ParetoSearch``: the keras-tuner tuner built on it.
- ``ParetoHyperbandOracle``: keras-tuner's Hyperband brackets, promoting each
  round's trials by non-dominated sorting of the objective parts (MO-ASHA).
- ``ParetoHyperband``: the multi-fidelity tuner built on it.

``SAMPLERS``, the sampler names ``sampler=`` takes, and ``nondominated_order``, the
ranking ``ParetoHyperbandOracle`` promotes by, are importable from here but not in
``__all__``.
"""

from regsearch.oracles._hyperband import ParetoHyperbandOracle
from regsearch.oracles._hyperband_tuner import ParetoHyperband
from regsearch.oracles._oracle import ParetoOracle
from regsearch.oracles._ranking import nondominated_order as nondominated_order
from regsearch.oracles._samplers import SAMPLERS as SAMPLERS
from regsearch.oracles._tuner import ParetoSearch

__all__ = ["ParetoHyperband", "ParetoHyperbandOracle", "ParetoOracle", "ParetoSearch"]
