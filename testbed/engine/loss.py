"""Loss models: independent (Bernoulli) and bursty (Gilbert-Elliott), one draw sequence per frame."""

from __future__ import annotations

import random

from testbed.linkparams import GilbertElliott


class BernoulliLoss:
    """Each frame is lost independently with probability `prob`."""

    __slots__ = ("prob",)

    def __init__(self, prob: float) -> None:
        self.prob = prob

    def lose(self, rng: random.Random) -> bool:
        # Draw even at prob 0 is skipped: the stream only depends on the configured models.
        return self.prob > 0.0 and rng.random() < self.prob


class GilbertElliottLoss:
    """Two-state Markov chain, stepped once per frame before the loss draw (as netem does)."""

    __slots__ = ("ge", "bad")

    def __init__(self, ge: GilbertElliott, bad: bool = False) -> None:
        self.ge = ge
        self.bad = bad

    def lose(self, rng: random.Random) -> bool:
        ge = self.ge
        if self.bad:
            if rng.random() < ge.r:
                self.bad = False
        elif rng.random() < ge.p:
            self.bad = True
        return rng.random() < (ge.loss_bad if self.bad else ge.loss_good)


def make_loss(prob: float, ge: GilbertElliott | None, previous: object = None) -> BernoulliLoss | GilbertElliottLoss:
    """The loss model for these parameters; a Gilbert-Elliott chain keeps its state across changes."""
    if ge is not None:
        bad = previous.bad if isinstance(previous, GilbertElliottLoss) else False
        return GilbertElliottLoss(ge, bad)
    return BernoulliLoss(prob)
