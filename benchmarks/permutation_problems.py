"""Permutation objectives for the sampler benchmarks: QAPLIB instances and hidden orders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orderopt.orders import kendall_tau_distance, random_order

DATA = Path(__file__).resolve().parent / "data" / "qaplib"
QAP_NAMES = ("chr12a", "had12", "nug12", "rou12", "scr12", "tai12a", "esc16a", "had20", "lipa20a", "nug20", "tai20a")


@dataclass(frozen=True)
class QAP:
    name: str
    a: np.ndarray
    b: np.ndarray
    optimum: float
    optimal_perm: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.a)

    def cost(self, p) -> float:
        p = np.asarray(p)
        return float((self.a * self.b[np.ix_(p, p)]).sum())

    def gap(self, value: float) -> float:
        """Gap to the known optimum in %."""
        return 100.0 * (value - self.optimum) / self.optimum


def load_qap(name: str) -> QAP:
    nums = (DATA / f"{name}.dat").read_text().split()
    n = int(nums[0])
    vals = np.array([float(v) for v in nums[1:1 + 2 * n * n]])
    a, b = vals[: n * n].reshape(n, n), vals[n * n:].reshape(n, n)
    sln = (DATA / f"{name}.sln").read_text().split()
    perm = tuple(int(v) - 1 for v in sln[2:2 + n])
    return QAP(name, a, b, float(sln[1]), perm)


@dataclass(frozen=True)
class HiddenOrder:
    """Kendall distance to a secret permutation, optionally with Gaussian noise of sd ``noise``."""

    n: int
    noise: float = 0.0
    seed: int = 12345

    @property
    def name(self) -> str:
        return f"hidden-{self.n}" + (f"-noise{self.noise:g}" if self.noise else "")

    @property
    def secret(self) -> tuple[int, ...]:
        return random_order(self.n, self.seed)

    def true_cost(self, p) -> float:
        return float(kendall_tau_distance(p, self.secret))
