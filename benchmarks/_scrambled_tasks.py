"""Scrambled built-in tasks as plain ``generate(n, rng)`` callables, for code that has no
``--scramble`` option (the search of orderopt v1, run by ``discovery.py`` from its own commit).

``square_8_s0`` is ``square`` with L = 8 and its targets relabelled by ``random_order(8, 0)``:
exactly the data of ``make_task("square", 8, scramble=0)``. Only orderopt's task generators and
order helpers are used, which are the same in v1 and today.
"""

from __future__ import annotations

import numpy as np


def __getattr__(name: str):
    try:
        task_name, length, scramble = name.rsplit("_", 2)
        length, seed = int(length), int(scramble.lstrip("s"))
    except ValueError:
        raise AttributeError(name) from None
    from orderopt.orders import random_order
    from orderopt.tasks import make_task

    base = make_task(task_name, length)
    relabel = list(random_order(length, seed))

    def generate(n: int, rng: np.random.Generator):
        x, y = base.generate(n, rng)
        return x, np.asarray(y)[:, relabel]

    generate.__name__ = name
    return generate
