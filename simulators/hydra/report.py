"""The fit report: ``fit_report`` compares a generated log with the real one it was fitted to (Gini of item
popularity, KS distance of user activity, density, modularity) and returns a ``FitReport`` that
says whether the fit is within tolerance; ``gini`` and ``ks_distance`` are its statistics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from simulators.hydra.fit import _co_clusters, _Pairs, _pairs, bipartite_modularity


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 = all equal, towards 1 = one takes all)."""
    values = np.sort(np.asarray(values, dtype=np.float64))
    count = values.shape[0]
    if count == 0 or values.sum() <= 0:
        return 0.0
    ranks = np.arange(1, count + 1)
    return float(((2 * ranks - count - 1) * values).sum() / (count * values.sum()))


def ks_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs."""
    grid = np.union1d(first, second)
    first_cdf = np.searchsorted(np.sort(first), grid, side="right") / len(first)
    second_cdf = np.searchsorted(np.sort(second), grid, side="right") / len(second)
    return float(np.abs(first_cdf - second_cdf).max())


@dataclasses.dataclass(frozen=True)
class FitReport:
    """How closely a generated log matches a real one.

    Tolerances a fit should meet (``passes``): |Gini difference| < 0.05, activity KS < 0.1,
    generated density within 15 % of the real one. Modularity is reported, not tested:
    co-clustering finds some structure even in random data, so it compares the two logs only.
    """

    gini_real: float
    """Gini of item popularity (degrees of the items that appear) in the real log."""
    gini_generated: float
    activity_ks: float
    """KS distance between the users' numbers of distinct items, real vs generated."""
    density_real: float
    """Unique pairs / (users x items that appear)."""
    density_generated: float
    modularity_real: float
    """Bipartite modularity of a spectral co-clustering of the log."""
    modularity_generated: float
    num_pairs_real: int
    num_pairs_generated: int

    @property
    def gini_gap(self) -> float:
        return abs(self.gini_real - self.gini_generated)

    @property
    def density_ratio(self) -> float:
        return self.density_generated / self.density_real

    def passes(self, gini_tolerance: float = 0.05, ks_tolerance: float = 0.1, density_tolerance: float = 0.15) -> bool:
        """Whether the generated log is within the stated tolerances of the real one."""
        return (
            self.gini_gap < gini_tolerance
            and self.activity_ks < ks_tolerance
            and abs(self.density_ratio - 1) < density_tolerance
        )


def fit_report(
    real_log: pd.DataFrame, generated_log: pd.DataFrame, num_communities: int = 8, seed: int = 0
) -> FitReport:
    """Compare a generated log with the real one it was fitted to (see ``FitReport`` for tolerances).

    Statistics use only what a log shows: items and users that appear in it, unique pairs.
    """
    real, generated = _pairs(real_log, "real log"), _pairs(generated_log, "generated log")

    def stats(pairs: _Pairs) -> tuple[float, np.ndarray, float, float]:
        communities = min(num_communities, pairs.num_users, pairs.num_items)
        user_community, item_community = _co_clusters(pairs, communities, seed)
        return (
            gini(np.bincount(pairs.items, minlength=pairs.num_items)),
            np.bincount(pairs.users, minlength=pairs.num_users),
            pairs.users.shape[0] / (pairs.num_users * pairs.num_items),
            bipartite_modularity(pairs, user_community, item_community),
        )

    real_gini, real_activity, real_density, real_modularity = stats(real)
    generated_gini, generated_activity, generated_density, generated_modularity = stats(generated)
    return FitReport(
        gini_real=real_gini,
        gini_generated=generated_gini,
        activity_ks=ks_distance(real_activity, generated_activity),
        density_real=real_density,
        density_generated=generated_density,
        modularity_real=real_modularity,
        modularity_generated=generated_modularity,
        num_pairs_real=int(real.users.shape[0]),
        num_pairs_generated=int(generated.users.shape[0]),
    )
