"""A HYDRA-style generator of recommendation data, and a live user simulator over the same model.

The latent model (``HydraModel``) follows HYDRA (Mungari, Coppolillo, Ritacco, Manco, "Flexible
Generation of Preference Data for Recommendation Analysis", arXiv:2407.16594), simplified to hard
communities and a direct calibration (docs/hydra.md lists the differences): users belong to communities;
every item has a home community and a popularity weight; item popularity and user activity
(how many items a user adopts) are each a mixture of log-normal distributions, which gives
the heavy tails and the bump of very active users real logs show. A user of community g
adopts item i with probability proportional to ``weight_i * exp(affinity * [home_i == g])``,
without repeats, until their activity is reached.

Three uses:

- ``generate_log(model, seed)``: a synthetic interaction log (user, item, timestamp), any size.
- ``fit(log)``: calibrate the model to a real log: mixtures fitted by EM to log item degrees and
  log user activity, communities found by spectral co-clustering of the user-item matrix, and
  the affinity solved so the share of adoptions inside a user's community matches the log.
  ``fit_report(real, generated)`` says how close a generated log is (Gini, KS, density, modularity).
- ``HydraUser`` / ``make_simulator``: the registered env ``recgym/Hydra-v0``; fresh users are drawn
  from the model and choose from slates by a multinomial logit on log popularity and community.
"""

from simulators.hydra.fit import bipartite_modularity, fit
from simulators.hydra.generate import generate_log, open_bandit_log, read_log, write_parquet
from simulators.hydra.model import HydraModel, LogNormalMixture
from simulators.hydra.report import FitReport, fit_report, gini, ks_distance
from simulators.hydra.user import HydraParams, HydraState, HydraUser, ParamLike, catalog_from_model, make_simulator

__all__ = [
    "FitReport",
    "HydraModel",
    "HydraParams",
    "HydraState",
    "HydraUser",
    "LogNormalMixture",
    "ParamLike",
    "bipartite_modularity",
    "catalog_from_model",
    "fit",
    "fit_report",
    "generate_log",
    "gini",
    "ks_distance",
    "make_simulator",
    "open_bandit_log",
    "read_log",
    "write_parquet",
]
