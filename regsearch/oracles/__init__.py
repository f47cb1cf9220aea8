"""Oracles: keras-tuner's Oracle API outside, an Optuna sampler and study inside.

- ``ParetoOracle``: asks an Optuna multi-objective sampler for every
  trial and tells it the trial's objective parts (validation metric, trimmed
  size, active outputs); usable with any keras-tuner tuner class.
- ``ParetoSearch``: the keras-tuner tuner built on it.

``SAMPLERS``, the sampler names ``sampler=`` takes, is importable from here but not
in ``__all__``.
"""

from regsearch.oracles._oracle import ParetoOracle
from regsearch.oracles._samplers import SAMPLERS as SAMPLERS
from regsearch.oracles._tuner import ParetoSearch

__all__ = ["ParetoOracle", "ParetoSearch"]
