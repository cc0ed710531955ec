"""Fitting: ``fit`` calibrates a ``HydraModel`` to a real log (EM mixtures for popularity and activity,
spectral co-clustering for communities, an affinity matched to the log's own-community share and
modularity), with the log reduction (``_Pairs``) and ``bipartite_modularity`` that the fit report
shares."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import torch

from recgym.errors import ConfigError
from simulators.hydra.generate import generate_log
from simulators.hydra.model import HydraModel, LogNormalMixture

_KMEANS_RESTARTS = 8
"""k-means restarts in co-clustering; the one of highest modularity wins (single runs stall in local optima)."""


@dataclasses.dataclass(frozen=True)
class _Pairs:
    """A log reduced to unique (user, item) index pairs."""

    users: np.ndarray
    items: np.ndarray
    num_users: int
    num_items: int


def _pairs(log: pd.DataFrame, name: str = "log") -> _Pairs:
    """Validate a log and map its arbitrary user and item labels to 0..n-1 (pandas factorize)."""
    if not isinstance(log, pd.DataFrame):
        raise ConfigError(f"The {name} must be a pandas DataFrame with user and item columns; got {type(log)}.")
    missing = [column for column in ("user", "item") if column not in log.columns]
    if missing:
        raise ConfigError(
            f"The {name} lacks column(s) {missing}; it has {list(log.columns)[:10]}. "
            "Rename your id columns, e.g. log.rename(columns={'user_id': 'user', 'item_id': 'item'})."
        )
    if len(log) == 0:
        raise ConfigError(f"The {name} is empty; fit needs at least one (user, item) interaction.")
    for column in ("user", "item"):
        if log[column].isna().any():
            raise ConfigError(
                f"The {name}'s {column!r} column has {int(log[column].isna().sum())} missing ids; "
                "drop those rows (log.dropna(subset=['user', 'item'])) first."
            )
    user_codes, user_labels = pd.factorize(log["user"])
    item_codes, item_labels = pd.factorize(log["item"])
    codes = np.unique(user_codes.astype(np.int64) * len(item_labels) + item_codes)
    return _Pairs(codes // len(item_labels), codes % len(item_labels), len(user_labels), len(item_labels))


def bipartite_modularity(pairs: _Pairs, user_community: np.ndarray, item_community: np.ndarray) -> float:
    """Barber's bipartite modularity of a co-clustering: within-community edges minus their chance share."""
    edges = pairs.users.shape[0]
    within = float(np.mean(user_community[pairs.users] == item_community[pairs.items]))
    num_communities = int(max(user_community.max(), item_community.max())) + 1
    user_side = np.bincount(user_community[pairs.users], minlength=num_communities)
    item_side = np.bincount(item_community[pairs.items], minlength=num_communities)
    return within - float((user_side * item_side).sum()) / edges**2


def _co_clusters(pairs: _Pairs, num_communities: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spectral co-clustering (Dhillon, 2001): communities of users [U] and items [N] that co-adopt.

    Embeds users and items by the leading singular vectors (bar the first, which is popularity) of
    the degree-normalised user-item matrix D_u^-1/2 A D_i^-1/2, then runs k-means on both together.
    """
    if num_communities <= 1:
        return np.zeros(pairs.num_users, dtype=np.int64), np.zeros(pairs.num_items, dtype=np.int64)
    generator = torch.Generator().manual_seed(seed)
    users, items = torch.from_numpy(pairs.users), torch.from_numpy(pairs.items)
    user_degree = torch.bincount(users, minlength=pairs.num_users).double()
    item_degree = torch.bincount(items, minlength=pairs.num_items).double()
    values = (user_degree[users] * item_degree[items]).rsqrt()
    matrix = torch.sparse_coo_tensor(
        torch.stack([users, items]), values, (pairs.num_users, pairs.num_items), check_invariants=False
    )
    matrix = matrix.coalesce()
    rank = min(num_communities, pairs.num_users, pairs.num_items)
    left, right = _top_singular_vectors(matrix, rank, generator)
    embedding = torch.cat([left[:, 1:] * user_degree.rsqrt()[:, None], right[:, 1:] * item_degree.rsqrt()[:, None]])
    embedding = (embedding / embedding.norm(dim=1, keepdim=True).clamp_min(1e-12)).float()
    best, best_modularity = None, -np.inf
    for _ in range(_KMEANS_RESTARTS):
        labels = _kmeans(embedding, num_communities, generator).numpy()
        split = (labels[: pairs.num_users], labels[pairs.num_users :])
        modularity = bipartite_modularity(pairs, *split)
        if modularity > best_modularity:
            best, best_modularity = split, modularity
    return best


def _top_singular_vectors(
    matrix: torch.Tensor, rank: int, generator: torch.Generator, iterations: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Leading ``rank`` left [U, r] and right [N, r] singular vectors by seeded randomized subspace iteration."""
    num_items = matrix.shape[1]
    width = min(rank + 10, num_items, matrix.shape[0])
    basis = torch.randn(num_items, width, generator=generator, dtype=torch.float64)
    transposed = matrix.t().coalesce()
    for _ in range(iterations):
        left_basis, _ = torch.linalg.qr(torch.sparse.mm(matrix, basis))
        basis, _ = torch.linalg.qr(torch.sparse.mm(transposed, left_basis))
    left_basis, _ = torch.linalg.qr(torch.sparse.mm(matrix, basis))
    small = torch.sparse.mm(transposed, left_basis).t()  # [width, N] = Q^T A
    left_small, _, right_t = torch.linalg.svd(small, full_matrices=False)
    left = left_basis @ left_small
    # SVD signs are arbitrary; fix them so the clustering does not depend on the LAPACK build.
    signs = torch.sign(left.sum(dim=0)).where(left.sum(dim=0) != 0, torch.ones(1, dtype=left.dtype))
    return (left * signs)[:, :rank], (right_t.t() * signs)[:, :rank]


def _kmeans(points: torch.Tensor, num_clusters: int, generator: torch.Generator, iterations: int = 50) -> torch.Tensor:
    """Lloyd's k-means with k-means++ seeding; labels int64 [P]."""
    num_points = points.shape[0]
    num_clusters = min(num_clusters, num_points)
    first = torch.randint(num_points, (1,), generator=generator)
    centers = points[first]
    for _ in range(1, num_clusters):
        distance = torch.cdist(points, centers).min(dim=1).values.square()
        if float(distance.sum()) <= 0:
            chosen = torch.randint(num_points, (1,), generator=generator)
        else:
            chosen = torch.multinomial(distance, 1, generator=generator)
        centers = torch.cat([centers, points[chosen]])
    labels = torch.cdist(points, centers).argmin(dim=1)
    for _ in range(iterations):
        sums = torch.zeros_like(centers).index_add_(0, labels, points)
        counts = torch.bincount(labels, minlength=num_clusters).unsqueeze(1)
        centers = torch.where(counts > 0, sums / counts.clamp_min(1), centers)
        new_labels = torch.cdist(points, centers).argmin(dim=1)
        if torch.equal(new_labels, labels):
            break
        labels = new_labels
    return labels


def _solve_affinity(own_share: float, user_activity: np.ndarray, own_mass: np.ndarray) -> float:
    """The affinity a for which the expected share of own-community adoptions equals ``own_share``.

    A user whose community holds popularity mass W adopts in it with probability
    e^a W / (e^a W + 1 - W); the activity-weighted mean over users is increasing in a (bisection).
    This ignores that adoptions are without repeats, so it is the starting point of ``fit``'s search.
    """
    weights = user_activity / user_activity.sum()

    def expected_share(affinity: float) -> float:
        boosted = math.exp(affinity) * own_mass
        return float((weights * boosted / (boosted + 1.0 - own_mass).clip(1e-12)).sum())

    if own_share <= expected_share(0.0):
        return 0.0
    low, high = 0.0, 20.0
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if expected_share(middle) < own_share else (low, middle)
    return 0.5 * (low + high)


def _inclusion_probabilities(log_probabilities: np.ndarray, activity: np.ndarray) -> np.ndarray:
    """P(item adopted) [R, N] for R users adopting ``activity [R]`` distinct items by successive sampling.

    Uses the Poisson approximation of sampling without replacement: P_i = 1 - exp(-lam p_i), with
    lam solved so that the P_i sum to the activity. The sum is concave and increasing in lam and
    lam = activity lies below the root, so Newton's method from there climbs to it monotonically.
    """
    num_items = log_probabilities.shape[1]
    target = np.minimum(activity, num_items - 1e-3)[:, None]
    probabilities = np.exp(log_probabilities)
    rate = target.copy()
    for _ in range(20):
        decay = np.exp(-rate * probabilities)
        gap = (1.0 - decay).sum(axis=1, keepdims=True) - target
        rate = rate - gap / (probabilities * decay).sum(axis=1, keepdims=True).clip(1e-300)
        if np.all(np.abs(gap) < 1e-6 * target):
            break
    return -np.expm1(-rate * probabilities)


def _calibrated_weights(
    model: HydraModel, user_community: np.ndarray, user_activity: np.ndarray, target_degree: np.ndarray
) -> np.ndarray:
    """Item weights whose expected degrees, for these users, match ``target_degree [N]``.

    Drawing without repeats flattens popularity (a very active user adopts the popular and the
    unpopular alike), so weights proportional to the target degrees give too even a log; a
    damped multiplicative fixed point on the expected degrees undoes it. Users are grouped by
    community and activity (at most 32 activity bins) to keep the work [groups, N].
    """
    edges = np.unique(np.quantile(user_activity, np.linspace(0, 1, 33)))
    bins = np.clip(np.searchsorted(edges, user_activity, side="right") - 1, 0, max(len(edges) - 2, 0))
    group_codes, group_of_user = np.unique(user_community * len(edges) + bins, return_inverse=True)
    group_size = np.bincount(group_of_user).astype(np.float64)
    group_activity = np.bincount(group_of_user, weights=user_activity) / group_size
    group_community = group_codes // len(edges)
    target = np.minimum(target_degree, 0.99 * user_community.shape[0])
    weight = model.item_weight.copy()
    for _ in range(30):
        current = dataclasses.replace(model, item_weight=weight / weight.sum())
        inclusion = _inclusion_probabilities(current.adoption_log_probabilities(group_community), group_activity)
        expected = group_size @ inclusion
        weight = weight * np.clip(target / np.maximum(expected, 1e-12), 0.5, 2.0)
    return weight / weight.sum()


def _dequantized(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Counts d spread uniformly over [d - 0.5, d + 0.5), so a continuous fit rounds back to d."""
    return counts + rng.uniform(-0.5, 0.5, size=counts.shape[0])


def fit(log: pd.DataFrame, num_communities: int = 8, seed: int = 0, num_components: int = 3) -> HydraModel:
    """A ``HydraModel`` calibrated to a real log with columns user and item (any hashable labels).

    Duplicated (user, item) pairs count once. Item popularity and user activity get
    ``num_components``-component log-normal mixtures (EM on the log of dequantised degrees); each
    item keeps its place in the popularity ranking, with the mixture's quantile as its weight.
    Communities come from spectral co-clustering; the affinity matches the log's share of
    adoptions inside the adopter's community. Item i of the model is the i-th distinct item label
    in order of first appearance (``pandas.factorize``).

    Example::

        model = fit(pd.read_parquet("log.parquet"), num_communities=8)
        synthetic = generate_log(model.resized(num_users=100_000), seed=1)
    """
    for name, value in (("num_communities", num_communities), ("num_components", num_components)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ConfigError(f"{name} must be a positive integer; got {value!r}.")
    pairs = _pairs(log)
    if num_communities > min(pairs.num_users, pairs.num_items):
        raise ConfigError(
            f"num_communities={num_communities} exceeds what this log can hold: it has {pairs.num_users} users and "
            f"{pairs.num_items} items, and every community needs at least one of each. Pass "
            f"num_communities <= {min(pairs.num_users, pairs.num_items)}, or fit a larger log."
        )
    rng = np.random.default_rng(seed)
    item_degree = np.bincount(pairs.items, minlength=pairs.num_items)
    user_activity = np.bincount(pairs.users, minlength=pairs.num_users)
    popularity = LogNormalMixture.fit(_dequantized(item_degree, rng), num_components)
    activity = LogNormalMixture.fit(_dequantized(user_activity, rng), num_components)

    # Rank-preserving targets: the item of popularity rank r gets the mixture quantile (r - 0.5) / N.
    ranking = np.lexsort((rng.random(pairs.num_items), item_degree))
    target_degree = np.empty(pairs.num_items)
    target_degree[ranking] = popularity.quantiles((np.arange(pairs.num_items) + 0.5) / pairs.num_items)
    target_degree *= user_activity.sum() / target_degree.sum()

    user_community, item_community = _co_clusters(pairs, num_communities, seed)
    community_weights = np.bincount(user_community, minlength=num_communities) / pairs.num_users
    own_share = float(np.mean(user_community[pairs.users] == item_community[pairs.items]))
    own_mass = np.bincount(item_community, weights=target_degree, minlength=num_communities)[user_community]
    affinity = _solve_affinity(own_share, user_activity.astype(np.float64), own_mass / target_degree.sum())
    model = HydraModel(
        num_users=pairs.num_users,
        community_weights=community_weights,
        item_community=item_community.astype(np.int64),
        item_weight=target_degree / target_degree.sum(),
        popularity=popularity,
        activity=activity,
        affinity=affinity,
    )
    user_activity = user_activity.astype(np.float64)
    model = dataclasses.replace(
        model, item_weight=_calibrated_weights(model, user_community, user_activity, target_degree)
    )
    if num_communities > 1:
        real_modularity = bipartite_modularity(pairs, user_community, item_community)
        model = dataclasses.replace(model, affinity=_match_modularity(model, real_modularity, num_communities, seed))
        model = dataclasses.replace(
            model, item_weight=_calibrated_weights(model, user_community, user_activity, target_degree)
        )
    return model


def _match_modularity(model: HydraModel, target: float, num_communities: int, seed: int, rounds: int = 5) -> float:
    """Affinity whose generated log, co-clustered like the real one, has the real log's modularity.

    Co-clustering recovers communities imperfectly and heavy users adopt across communities, so
    the share-matching affinity understates the structure; a few secant steps on generated logs
    (same seed each time, so the steps see a smooth curve) correct it, indirect-inference style.
    """

    def modularity(affinity: float) -> float:
        pairs = _pairs(generate_log(dataclasses.replace(model, affinity=affinity), seed=seed + 1))
        user_community, item_community = _co_clusters(pairs, num_communities, seed)
        return bipartite_modularity(pairs, user_community, item_community) - target

    previous, current = model.affinity, model.affinity + 1.0
    previous_gap, current_gap = modularity(previous), modularity(current)
    for _ in range(rounds):
        if abs(current_gap) < 2e-3 or current_gap == previous_gap:
            break
        step = current_gap * (current - previous) / (current_gap - previous_gap)
        previous, previous_gap = current, current_gap
        current = float(np.clip(current - np.clip(step, -2.0, 2.0), 0.0, 20.0))
        current_gap = modularity(current)
    return current if abs(current_gap) <= abs(previous_gap) else previous
