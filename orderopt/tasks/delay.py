"""DELAY task: a multivariate delay dynamical system with a known dependency graph.

``V`` state variables evolve over ``T = L / V`` time steps; targets are all ``(variable, time)``
states, canonical index ``t * V + v`` (time-major). Each update is the non-injective map
``g(z) = z^2 mod 19`` (balanced residues) of the variable's own previous value, its input, and
another variable at a delay::

    s_0(t) = g(x_{0,t} + s_0(t-1) + s_{V-1}(t-D))
    s_v(t) = g(x_{v,t} + s_v(t-1) + s_{v-1}(t))       for v >= 1

(states at negative times are 0). Every topological sort of the dependency graph computes each
state from known states, so several orders are "forward-like": time-major (canonical) and
variable-first interleavings in which variable 0 runs ahead by up to ``D - 1`` steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from orderopt.errors import InvalidOrderError, TaskConfigError
from orderopt.orders import Order, identity, reverse
from orderopt.tasks.base import Task
from orderopt.tasks.recurrences import balanced_mod

__all__ = ["DelayTask"]


class DelayTask(Task):
    """Coupled variables with a cross-variable delay: a dependency graph, not a chain (ours)."""
    name = "delay"

    def __init__(self, length: int = 8, variables: int = 2, delay: int = 2) -> None:
        length, variables, delay = int(length), int(variables), int(delay)
        if variables < 1 or delay < 1:
            raise TaskConfigError(f"delay needs variables >= 1 and delay >= 1, got {variables}, {delay}")
        if length < 2 * variables or length % variables:
            raise TaskConfigError(
                f"delay with {variables} variables needs a length that is a multiple of {variables} "
                f"and at least {2 * variables}, got {length}"
            )
        self.length = self.input_length = length
        self.variables, self.delay = variables, delay
        self.steps = length // variables
        self.offset, self.vocab_size = 9, 19
        self.formula = (
            f"V={variables} variables, T=L/V steps, x in {{-9..9}}; g(z)=z^2 mod 19; "
            f"s_0(t)=g(x_0t+s_0(t-1)+s_(V-1)(t-{delay})), s_v(t)=g(x_vt+s_v(t-1)+s_(v-1)(t)); "
            "target t*V+v = s_v(t)"
        )

    # ------------------------------------------------------------- structure
    def index(self, variable: int, time: int) -> int:
        """Target index of variable ``v`` at time ``t``."""
        return time * self.variables + variable

    def parents(self) -> list[list[int]]:
        """Dependency graph: ``parents()[i]`` are the target indices state ``i`` is computed from."""
        V, D = self.variables, self.delay
        out: list[list[int]] = []
        for i in range(self.length):
            t, v = divmod(i, V)
            deps = []
            if t >= 1:
                deps.append(self.index(v, t - 1))
            if v == 0 and t - D >= 0 and V > 1:
                deps.append(self.index(V - 1, t - D))
            if v >= 1:
                deps.append(self.index(v - 1, t))
            out.append(sorted(set(deps)))
        return out

    def is_topological(self, order: Order) -> bool:
        """True when every state comes after all states it depends on."""
        pos = {v: k for k, v in enumerate(order)}
        return all(pos[p] < pos[i] for i, ps in enumerate(self.parents()) for p in ps)

    def _sort(self, choose) -> Order:
        parents = self.parents()
        done: set[int] = set()
        out: list[int] = []
        while len(out) < self.length:
            ready = [i for i in range(self.length) if i not in done and all(p in done for p in parents[i])]
            pick = choose(ready)
            out.append(pick)
            done.add(pick)
        return tuple(out)

    def topological_orders(self, limit: int = 100) -> Iterator[Order]:
        """Valid topological sorts in lexicographic order, at most ``limit`` of them."""
        parents = self.parents()
        children: list[list[int]] = [[] for _ in range(self.length)]
        for i, ps in enumerate(parents):
            for p in ps:
                children[p].append(i)
        indeg = [len(ps) for ps in parents]
        prefix: list[int] = []
        count = 0

        def walk() -> Iterator[Order]:
            nonlocal count
            if len(prefix) == self.length:
                count += 1
                yield tuple(prefix)
                return
            for i in [i for i in range(self.length) if indeg[i] == 0 and i not in prefix]:
                if count >= limit:
                    return
                prefix.append(i)
                for c in children[i]:
                    indeg[c] -= 1
                yield from walk()
                for c in children[i]:
                    indeg[c] += 1
                prefix.pop()

        yield from walk()

    def random_topological_order(self, seed: int) -> Order:
        """A random order that respects the dependency graph, the same for the same seed."""
        rng = np.random.default_rng(seed)
        return self._sort(lambda ready: ready[int(rng.integers(len(ready)))])

    def known_orders(self) -> dict[str, Order]:
        variable_first = self._sort(lambda ready: min(ready, key=lambda i: (i % self.variables, i)))
        return {
            "forward": identity(self.length),
            "time-major": identity(self.length),
            "variable-first": variable_first,
            "reverse": reverse(self.length),
        }

    def parse_order(self, text: str) -> Order:
        """Also accepts ``topological:SEED``: a random valid topological sort."""
        key = text.strip().lower()
        if key.startswith("topological:"):
            try:
                return self.random_topological_order(int(key.split(":", 1)[1]))
            except ValueError:
                raise InvalidOrderError(f"bad order {text!r}; write topological:SEED") from None
        return super().parse_order(text)

    # ------------------------------------------------------------------ data
    def targets(self, x_values: np.ndarray) -> np.ndarray:
        """All targets from the inputs, in canonical order."""
        x = np.atleast_2d(np.asarray(x_values, dtype=np.int64))
        n, V, D = x.shape[0], self.variables, self.delay
        s = np.zeros((n, self.steps, V), dtype=np.int64)
        xs = x.reshape(n, self.steps, V)
        zero = np.zeros(n, dtype=np.int64)
        for t in range(self.steps):
            for v in range(V):
                own = s[:, t - 1, v] if t >= 1 else zero
                if v == 0:
                    other = s[:, t - D, V - 1] if (t - D >= 0 and V > 1) else zero
                else:
                    other = s[:, t, v - 1]
                s[:, t, v] = balanced_mod((xs[:, t, v] + own + other) ** 2)
        return s.reshape(n, self.length)

    def generate(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        x = rng.integers(-9, 10, size=(n, self.length))
        return x + self.offset, self.targets(x) + self.offset

    def options(self) -> dict[str, Any]:
        return {"variables": self.variables, "delay": self.delay}
