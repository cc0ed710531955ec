"""LinUCB (Li et al. 2010): rank by the ridge estimate plus alpha standard deviations of it.

Optimism in the face of uncertainty: a candidate whose reward the model is unsure of gets
the benefit of the doubt, so it is tried until the doubt is gone. With ``per_user=True``
each user has a disjoint model; ``DiagonalLinUCB`` keeps only the diagonal of the design
matrix (Online Matching's Diag-LinUCB), trading some accuracy for O(d) work per item.
"""

from __future__ import annotations

from typing import Any

import torch

from policies.bandits.base import LinearBandit
from policies.bandits.ridge import RidgeRegression
from recgym.core.registry import register_policy
from recgym.errors import ConfigError


@register_policy("linucb", kind="online", description="LinUCB on candidate features")
class LinUCB(LinearBandit):
    """Scores mean + alpha * sqrt(x^T A^-1 x); ``explore=False`` ranks by the mean alone."""

    def __init__(self, slate_size: int, alpha: float = 1.0, **kwargs: Any) -> None:
        if alpha < 0:
            raise ConfigError(f"alpha (the width of the confidence bonus) must be >= 0; got {alpha}.")
        super().__init__(slate_size, **kwargs)
        self.alpha = alpha

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._scores(observation, explore=True)

    def _scores(self, observation: dict[str, torch.Tensor], explore: bool) -> torch.Tensor:
        if not explore or self.alpha == 0:
            return self.mean_scores(observation)
        return self.upper_scores(observation)

    def upper_scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Upper confidence bound mean + alpha * sd of each candidate's reward, [B, C]."""

        def upper(model: RidgeRegression, contexts: torch.Tensor) -> torch.Tensor:
            return model.mean(contexts) + self.alpha * model.variance(contexts).clamp_min_(0.0).sqrt_()

        return self.score_candidates(observation, "upper", upper)

    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        scores = self._scores(observation, explore)
        return self.slate_from_scores(scores)


class DiagonalLinUCB(LinUCB):
    """LinUCB on the diagonal of the design matrix: O(d) per item, for very wide contexts."""

    def __init__(self, slate_size: int, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(slate_size, alpha=alpha, diagonal=True, **kwargs)
