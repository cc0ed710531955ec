"""Do personas choose from their stated interests? Measured on controlled slates, against a shuffled control.

Each trial shows a persona a slate of K items: one from a topic the persona loves (ground-truth
interest >= 0.5) at a random position, K-1 from topics it does not care for (interest <= 0.1).
A faithful simulator puts most of its click mass on the loved item; chance is 1/K. The
control runs the same decider on slates built from *another* persona's ground truth
(``PersonaPopulation.shuffled``): the descriptions no longer match the slates, so its rate
should fall back to chance, which shows the signal comes from the persona text, not from the
items alone.
"""

from __future__ import annotations

import dataclasses

import torch

from recgym.core.catalog import Catalog
from recgym.errors import ConfigError
from simulators.llm.decisions import Decider, Situation
from simulators.llm.memory import empty_memory
from simulators.llm.persona import PersonaPopulation


@dataclasses.dataclass(frozen=True)
class FidelityResult:
    """Share of click mass on the loved item, and how often it is the decider's favourite."""

    target_rate: float
    """Mean P(loved item | a click) at the given temperature."""
    top_choice_rate: float
    """Share of trials whose highest-utility item is the loved one."""
    chance: float
    trials: int

    def summary(self) -> str:
        return (
            f"loved item gets {self.target_rate:.1%} of clicks (top choice {self.top_choice_rate:.1%}) "
            f"vs chance {self.chance:.1%}, over {self.trials} trials"
        )


def controlled_slates(
    truth: PersonaPopulation, catalog: Catalog, slate_size: int, trials_per_persona: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Persona index [N], slate item ids [N, K] and the loved item's position [N] for every usable persona."""
    if slate_size < 2:
        raise ConfigError(f"slate_size must be at least 2 to measure a choice; got {slate_size}.")
    generator = torch.Generator().manual_seed(seed)
    items_by_topic = [torch.nonzero(catalog.topic.cpu() == topic).squeeze(1) for topic in range(catalog.num_topics)]
    personas, slates, targets = [], [], []
    for persona in range(len(truth)):
        interests = truth.interests[persona]
        loved = [t for t in range(catalog.num_topics) if interests[t] >= 0.5 and len(items_by_topic[t])]
        others = [t for t in range(catalog.num_topics) if interests[t] <= 0.1 and len(items_by_topic[t])]
        if not loved or len(others) < slate_size - 1:
            continue
        for _ in range(trials_per_persona):
            topics = [loved[int(torch.randint(len(loved), (1,), generator=generator))]]
            topics += [others[index] for index in torch.randperm(len(others), generator=generator)[: slate_size - 1]]
            items = [
                int(pool[torch.randint(len(pool), (1,), generator=generator)])
                for pool in map(items_by_topic.__getitem__, topics)
            ]
            position = int(torch.randint(slate_size, (1,), generator=generator))
            items.insert(position, items.pop(0))
            personas.append(persona)
            slates.append(items)
            targets.append(position)
    if not personas:
        raise ConfigError("No persona has a loved topic and enough disliked ones to build a controlled slate.")
    return torch.tensor(personas), torch.tensor(slates), torch.tensor(targets)


def choice_fidelity(
    decider: Decider,
    truth: PersonaPopulation,
    catalog: Catalog,
    slate_size: int = 4,
    trials_per_persona: int = 1,
    temperature: float = 1.0,
    seed: int = 0,
) -> FidelityResult:
    """How much click mass ``decider`` puts on the item ``truth`` says each persona loves."""
    personas, slates, targets = controlled_slates(truth, catalog, slate_size, trials_per_persona, seed)
    memory_items, memory_ratings = empty_memory(len(personas), 0, torch.device("cpu"))
    situation = Situation(
        personas, slates, memory_items, memory_ratings, torch.zeros(len(personas), catalog.num_topics)
    )
    utilities = decider.click_utilities(situation).cpu()
    probabilities = torch.softmax(utilities / temperature, dim=1)
    rows = torch.arange(len(personas))
    return FidelityResult(
        target_rate=float(probabilities[rows, targets].mean()),
        top_choice_rate=float((utilities.argmax(dim=1) == targets).float().mean()),
        chance=1.0 / slate_size,
        trials=len(personas),
    )
