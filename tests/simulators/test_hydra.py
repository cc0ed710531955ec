"""HYDRA generator: generation, fitting to real logs, the fit report and the live simulator."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from recgym.core import random
from recgym.errors import ConfigError
from simulators.hydra import (
    HydraModel,
    HydraParams,
    HydraUser,
    LogNormalMixture,
    fit,
    fit_report,
    generate_log,
    gini,
    ks_distance,
    make_simulator,
    open_bandit_log,
    read_log,
    write_parquet,
)

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _open_bandit_root() -> Path | None:
    """The Open Bandit sample: ../shared/data beside the repo, else the copy inside the `obp` wheel.

    `make test` installs obp with --no-deps only for this data (Apache-2.0), so CI always has it.
    """
    shared = SHARED_DATA / "open_bandit_dataset"
    if shared.is_dir():
        return shared
    spec = importlib.util.find_spec("obp")
    if spec is None or spec.origin is None:
        return None
    packaged = Path(spec.origin).parent / "dataset" / "obd"
    return packaged if packaged.is_dir() else None


def _keys(count: int, tag: int = 0) -> torch.Tensor:
    return random.fold_in(random.keys_from_seeds(torch.arange(count)), tag)


def _movielens_path() -> Path | None:
    """ml-100k.inter inside an installed ``recbole`` wheel (read in place, never copied)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "dataset_example" / "ml-100k" / "ml-100k.inter"
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def known_model() -> HydraModel:
    return HydraModel.default(num_users=1500, num_items=600, num_communities=6, seed=3)


@pytest.fixture(scope="module")
def known_log(known_model: HydraModel) -> pd.DataFrame:
    return generate_log(known_model, seed=1)


# -- mixtures and generation -----------------------------------------------------------------------
def test_mixture_em_recovers_two_well_separated_components() -> None:
    truth = LogNormalMixture((0.3, 0.7), (0.0, 3.0), (0.4, 0.6))
    fitted = LogNormalMixture.fit(truth.sample(np.random.default_rng(0), 20_000), num_components=2)
    np.testing.assert_allclose(fitted.weights, truth.weights, atol=0.02)
    np.testing.assert_allclose(fitted.means, truth.means, atol=0.05)
    np.testing.assert_allclose(fitted.stds, truth.stds, atol=0.05)
    levels = np.array([0.1, 0.5, 0.9])
    samples = truth.sample(np.random.default_rng(1), 50_000)
    np.testing.assert_allclose(truth.quantiles(levels), np.quantile(samples, levels), rtol=0.05)


def test_generation_is_deterministic_per_seed_with_unique_pairs(known_model: HydraModel) -> None:
    first, again, other = generate_log(known_model, 5), generate_log(known_model, 5), generate_log(known_model, 6)
    pd.testing.assert_frame_equal(first, again)
    assert not first[["user", "item"]].equals(other[["user", "item"]])
    assert not first.duplicated(["user", "item"]).any()
    assert list(first.columns[:3]) == ["user", "item", "timestamp"]
    assert first["item"].between(0, known_model.num_items - 1).all()


def test_every_user_gets_exactly_their_activity_capped_at_the_catalog() -> None:
    model = HydraModel.default(num_users=300, num_items=50, num_communities=3, seed=0)
    exactly_ten = dataclasses.replace(model, activity=LogNormalMixture((1.0,), (math.log(10.0),), (0.01,)))
    assert (generate_log(exactly_ten, 0).groupby("user").size() == 10).all()
    # Activity beyond the catalog: everyone adopts every item (the exact Gumbel top-k path).
    everything = dataclasses.replace(model, activity=LogNormalMixture((1.0,), (math.log(500.0),), (0.01,)))
    assert (generate_log(everything, 0).groupby("user").size() == 50).all()


def test_popularity_mixture_is_heavy_tailed(known_model: HydraModel, known_log: pd.DataFrame) -> None:
    weights = np.sort(known_model.item_weight)[::-1]
    assert weights[: len(weights) // 10].sum() > 0.35  # top 10 % of items hold over a third of the mass
    degrees = known_log.groupby("item").size().to_numpy()
    assert gini(degrees) > 0.4
    assert degrees.max() > 8 * np.median(degrees)


def test_users_adopt_their_own_community_far_more_than_chance(known_model: HydraModel, known_log: pd.DataFrame) -> None:
    own = known_model.item_community[known_log["item"].to_numpy()] == known_log["community"].to_numpy()
    community_mass = np.bincount(known_model.item_community, weights=known_model.item_weight)
    chance = community_mass[known_log["community"].to_numpy()].mean()  # share with affinity 0
    assert own.mean() > 2.0 * chance
    uniform_model = dataclasses.replace(known_model, affinity=0.0)
    uniform_log = generate_log(uniform_model, seed=1)
    uniform_own = known_model.item_community[uniform_log["item"].to_numpy()] == uniform_log["community"].to_numpy()
    assert uniform_own.mean() == pytest.approx(chance, abs=0.03)


# -- fitting -----------------------------------------------------------------------------------
def test_fit_recovers_a_known_model(known_model: HydraModel, known_log: pd.DataFrame) -> None:
    model = fit(known_log, num_communities=6, seed=0)
    assert model.num_items == known_log["item"].nunique() and model.num_users == known_model.num_users
    assert model.affinity == pytest.approx(known_model.affinity, abs=0.5)
    # Fitted item communities match the true ones up to relabelling (purity).
    true_community = known_model.item_community[pd.factorize(known_log["item"])[1].to_numpy()]
    table = pd.crosstab(model.item_community, true_community).to_numpy()
    assert table.max(axis=1).sum() / table.sum() > 0.8
    report = fit_report(known_log, generate_log(model, seed=2), num_communities=6)
    assert report.passes(), report
    assert report.modularity_generated == pytest.approx(report.modularity_real, abs=0.05)


def _assert_fits(real: pd.DataFrame, num_communities: int = 8) -> None:
    report = fit_report(real, generate_log(fit(real, num_communities=num_communities), seed=0), num_communities)
    assert report.gini_gap < 0.05, report
    assert report.activity_ks < 0.1, report
    assert abs(report.density_ratio - 1) < 0.15, report
    assert report.modularity_generated == pytest.approx(report.modularity_real, abs=0.05), report


@pytest.mark.parametrize("policy", ["random", "bts"])
def test_fit_matches_the_open_bandit_log(policy: str) -> None:
    root = _open_bandit_root()
    if root is None:
        pytest.skip("the Open Bandit sample is in neither ../shared/data nor an installed obp package")
    path = root / policy / "all" / "all.csv"
    real = open_bandit_log(path)
    assert real["user"].nunique() > 200 and real["item"].nunique() == 80
    _assert_fits(real)


def test_fit_matches_movielens_100k() -> None:
    path = _movielens_path()
    if path is None:
        pytest.skip("recbole (which ships ml-100k.inter) is not installed")
    real = read_log(path)
    assert {"user", "item", "rating", "timestamp"} <= set(real.columns) and len(real) == 100_000
    _assert_fits(real)


def test_fit_accepts_arbitrary_labels_and_ignores_duplicates() -> None:
    rng = np.random.default_rng(0)
    log = pd.DataFrame({"user": rng.integers(0, 60, 900), "item": rng.integers(0, 40, 900)})
    labelled = log.assign(user="u" + log["user"].astype(str), item=log["item"] * 1.5)
    twice = pd.concat([labelled, labelled])
    first, second = fit(labelled, num_communities=3), fit(twice, num_communities=3)
    np.testing.assert_array_equal(first.item_weight, second.item_weight)
    assert first.num_items == log["item"].nunique() and first.num_users == log["user"].nunique()


@pytest.mark.parametrize(
    ("log", "message"),
    [
        (pd.DataFrame({"user_id": [1], "item": [2]}), r"lacks column\(s\) \['user'\].*rename"),
        (pd.DataFrame({"user": [], "item": []}), "empty"),
        (pd.DataFrame({"user": [1, None], "item": [2, 3]}), "missing ids.*dropna"),
        ([(1, 2)], "pandas DataFrame"),
    ],
)
def test_fit_rejects_bad_logs_with_the_fix(log: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fit(log)  # type: ignore[arg-type]


def test_fit_rejects_bad_arguments_and_files(tmp_path: Path) -> None:
    log = pd.DataFrame({"user": [0, 1], "item": [0, 1]})
    with pytest.raises(ConfigError, match="num_communities"):
        fit(log, num_communities=0)
    with pytest.raises(ConfigError, match="does not exist"):
        read_log(tmp_path / "missing.csv")
    with pytest.raises(ConfigError, match=r"num_communities must be a positive integer; got 2.5"):
        fit(log, num_communities=2.5)  # type: ignore[arg-type]


def test_more_communities_than_a_log_can_hold_is_refused_not_quietly_reduced() -> None:
    rng = np.random.default_rng(1)
    log = pd.DataFrame({"user": rng.integers(0, 15, 20), "item": rng.integers(0, 18, 20)})
    users, items = log["user"].nunique(), log["item"].nunique()
    with pytest.raises(ConfigError, match=rf"num_communities=50 exceeds .* {users} users and {items} items.*<= "):
        fit(log, num_communities=50)


def test_report_statistics_have_their_textbook_values() -> None:
    assert gini(np.ones(10)) == 0.0
    assert gini(np.array([0, 0, 0, 1.0])) == pytest.approx(0.75)
    assert ks_distance(np.array([1, 2, 3]), np.array([1, 2, 3])) == 0.0
    assert ks_distance(np.array([1, 1]), np.array([5, 5])) == 1.0


def test_read_log_handles_parquet_and_recbole_headers(tmp_path: Path, known_log: pd.DataFrame) -> None:
    write_parquet(known_log, tmp_path / "log.parquet")
    pd.testing.assert_frame_equal(read_log(tmp_path / "log.parquet"), known_log)
    (tmp_path / "tiny.inter").write_text("user_id:token\titem_id:token\n1\t10\n2\t10\n")
    assert read_log(tmp_path / "tiny.inter").columns.tolist() == ["user", "item"]


# -- the live simulator ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def simulator() -> HydraUser:
    return make_simulator(num_items=400, num_communities=4)


def test_catalog_exposes_popularity_and_home_community(simulator: HydraUser) -> None:
    catalog, model = simulator.catalog, simulator.model
    assert torch.equal(catalog.topic, torch.from_numpy(model.item_community))
    np.testing.assert_allclose(catalog.popularity.numpy(), model.item_weight, rtol=1e-5)
    assert float(catalog.popularity.sum()) == pytest.approx(1.0)
    one_hot = catalog.embedding[:, : model.num_communities]
    assert torch.equal(one_hot.argmax(dim=1), catalog.topic)
    assert simulator.item_feature_spec().shape == (model.num_communities + 1,)


def test_reset_draws_users_from_the_model(simulator: HydraUser) -> None:
    state = simulator.reset(_keys(40_000))
    shares = torch.bincount(state.community, minlength=4).float() / 40_000
    np.testing.assert_allclose(shares.numpy(), simulator.model.community_weights, atol=0.01)
    samples = np.clip(np.rint(simulator.model.activity.sample(np.random.default_rng(0), 40_000)), 1, 400)
    assert ks_distance(state.activity.numpy(), samples) < 0.02
    assert torch.equal(simulator.reset(_keys(5)).activity, simulator.reset(_keys(40_000)).activity[:5])


def test_choices_follow_the_logit_and_favour_popular_same_community_items(simulator: HydraUser) -> None:
    catalog = simulator.catalog
    users = 40_000
    state = simulator.reset(_keys(users))
    state = dataclasses.replace(state, community=torch.zeros(users, dtype=torch.int64))
    by_popularity = catalog.popularity.argsort(descending=True)
    in_zero = by_popularity[catalog.topic[by_popularity] == 0]
    elsewhere = by_popularity[catalog.topic[by_popularity] != 0]
    # Popular and own-community, popular elsewhere, unpopular and own-community, unpopular elsewhere.
    slate = torch.stack([in_zero[0], elsewhere[0], in_zero[-1], elsewhere[-1]]).expand(users, 4).contiguous()
    _, response = simulator.step(state, slate, _keys(users, 7))
    frequencies = response.clicked.float().mean(dim=0)
    scores = simulator.scores(state, slate)[0]
    logits = torch.cat([scores, torch.tensor([simulator.params.no_click_score])])
    np.testing.assert_allclose(frequencies.numpy(), torch.softmax(logits, 0)[:4].numpy(), atol=0.01)
    assert frequencies[0] > frequencies[1] and frequencies[2] > frequencies[3]  # own community wins
    assert frequencies[0] > frequencies[2] and frequencies[1] > frequencies[3]  # popularity wins


def test_expected_reward_matches_simulated_watch_time(simulator: HydraUser) -> None:
    users = 30_000
    state = simulator.reset(_keys(users))
    items = torch.randint(400, (users, 1), generator=torch.Generator().manual_seed(0))
    expected = simulator.expected_reward(state, items).squeeze(1)
    _, response = simulator.step(state, items, _keys(users, 3))
    assert response.watch_time.sum(dim=1).mean().item() == pytest.approx(expected.mean().item(), rel=0.03)


def test_light_users_leave_sooner_than_heavy_ones(simulator: HydraUser) -> None:
    users = 4000
    state = simulator.reset(_keys(users))
    popular = simulator.catalog.popularity.argsort(descending=True)[:5].expand(users, 5).contiguous()
    episode_length = torch.zeros(users)
    for step in range(300):
        alive = ~simulator.terminated(state)
        episode_length += alive.float()
        state, _ = simulator.step(state, popular, _keys(users, 100 + step))
    light = state.activity <= state.activity.median()
    assert episode_length[light].mean() < 0.5 * episode_length[~light].mean()
    finished = simulator.terminated(state) & ~state.left
    assert torch.all(state.clicks[finished] >= state.activity[finished])


def test_per_user_parameters_and_validation(simulator: HydraUser) -> None:
    params = HydraParams(affinity=torch.tensor([0.0, 5.0]))
    user = HydraUser(simulator.model, params)
    state = dataclasses.replace(user.reset(_keys(2)), community=torch.tensor([0, 0]))
    own_item = int((user.catalog.topic == 0).nonzero()[0])
    scores = user.scores(state, torch.tensor([[own_item], [own_item]]))
    assert float(scores[1, 0] - scores[0, 0]) == pytest.approx(5.0)
    with pytest.raises(ConfigError, match="temperature"):
        HydraParams(temperature=0.0).check()
    with pytest.raises(ConfigError, match="leave_on_no_click"):
        HydraParams(leave_on_no_click=1.5).check()


def test_make_simulator_fits_a_log_file_and_rejects_unknown_arguments(tmp_path: Path) -> None:
    log = generate_log(HydraModel.default(num_users=300, num_items=150, num_communities=3), seed=0)
    write_parquet(log, tmp_path / "log.parquet")
    fitted = make_simulator(log_path=tmp_path / "log.parquet", num_communities=3)
    assert fitted.catalog.num_items == log["item"].nunique()
    assert torch.equal(fitted.catalog.topic, torch.from_numpy(fit(log, num_communities=3).item_community))
    assert fitted.params.affinity == pytest.approx(fitted.model.affinity)
    resized = make_simulator(log_path=tmp_path / "log.parquet", num_communities=3, num_items=200, affinity=1.0)
    assert resized.catalog.num_items == 200 and resized.params.affinity == 1.0
    with pytest.raises(ConfigError, match="Unknown argument"):
        make_simulator(num_items=100, budget=5)


@pytest.mark.gpu
def test_cuda_matches_cpu(simulator: HydraUser) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cuda = simulator.to("cuda")
    keys = _keys(512)
    slate = torch.randint(400, (512, 3), generator=torch.Generator().manual_seed(1))
    cpu_state, cpu_response = simulator.step(simulator.reset(keys), slate, _keys(512, 1))
    gpu_state, gpu_response = cuda.step(cuda.reset(keys.cuda()), slate.cuda(), _keys(512, 1).cuda())
    assert torch.equal(cpu_response.choice, gpu_response.choice.cpu())
    assert torch.equal(cpu_state.activity, gpu_state.activity.cpu())
    torch.testing.assert_close(
        simulator.expected_reward(cpu_state, slate), cuda.expected_reward(gpu_state, slate.cuda()).cpu()
    )
