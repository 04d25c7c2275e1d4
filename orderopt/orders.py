"""Permutation algebra for generation orders: see :mod:`orderopt.samplers._orders`.

The code lives in the sampler package, which must be self-contained to be published on
OptunaHub; this module is orderopt's name for it.
"""

from orderopt.samplers._orders import *  # noqa: F403 - one copy of the code, two names
from orderopt.samplers._orders import __all__  # noqa: F401
