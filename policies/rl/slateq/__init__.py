"""SlateQ (Ie et al., IJCAI 2019): Q-learning over slates through an item-level decomposition.

If a user consumes at most one item of a slate, and reward and next state depend only on
what was consumed, the value of a slate splits into item values weighted by the user's
choice probabilities:

    Q(s, A) = sum_{i in A} P(i | s, A) Qbar(s, i) + P(null | s, A) Qbar(s, null).

So ``Qbar`` is learnt for every candidate (and for not clicking) by TD on the consumed
item alone, a choice model is learnt beside it, and a slate optimiser combines them. The
choice model is a conditional logit with a no-click option, fitted by cross-entropy to
the observed choices among the shown items: P(i | s, A) = v_i / (v_0 + sum_{j in A} v_j)
with v_i = exp(logit_i). Both are heads of one network on a shared encoder.

Unlike RecSim's agent, the no-click outcome is valued by a learnt ``Qbar(s, null)`` and
trained on, since in recgym's envs the episode goes on after a no-click and what follows
depends on it (satisfaction drifts, sessions end); RecSim drops those transitions and
values the null option at 0 (``learn_null_value=False`` restores that).

Slates come from one of three rules over the same quantities: 'top_k' (rank by
``v_i (Qbar_i - Qbar_null)``), 'greedy' (RecSim's greedy addition) and 'exact' (the
optimum over all K-subsets, by Dinkelbach's method for fractional programs). The TD
target is an n-step return (1 step in the paper) plus the value, under a Polyak-averaged
target network, of the slate the rule picks where the return stops; the replay keeps
each user's steps in order so the return is read off when a sample is drawn.
"""

from policies.rl.slateq.config import SLATE_RULES, SlateQConfig
from policies.rl.slateq.network import SlateQNetwork, SlateQOutputs
from policies.rl.slateq.policy import SlateQPolicy
from policies.rl.slateq.replay import ReplayBuffer
from policies.rl.slateq.slates import SlateProblem, epsilon_greedy, random_slate
from policies.rl.slateq.trainer import SlateQTrainer

__all__ = [
    "SLATE_RULES",
    "ReplayBuffer",
    "SlateProblem",
    "SlateQConfig",
    "SlateQNetwork",
    "SlateQOutputs",
    "SlateQPolicy",
    "SlateQTrainer",
    "epsilon_greedy",
    "random_slate",
]
