"""The one place statistics are computed: expectations, reports, comparisons and experiments use it.

Percentiles use linear interpolation between closest ranks (Hyndman & Fan type 7, numpy's and
R's default): p50 of 10/20/600/610 ms is 310 ms, whoever asks. Confidence intervals are Student-t
intervals of the mean; two sets of runs are compared with Welch's t interval of the difference of
their means, and the Mann-Whitney U test is reported beside it (it assumes no normality).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PERCENTILE_METHOD = "linear interpolation between closest ranks (Hyndman-Fan type 7, numpy's default)"
CONFIDENCE = 0.95


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of a non-empty sequence, by the one documented method."""
    xs = sorted(values)
    if not xs:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must lie in 0..100, got {q}")
    k = (len(xs) - 1) * q / 100.0
    lo = math.floor(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def sd(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1 in the denominator); 0 for a single value."""
    n = len(values)
    if n < 2:
        return 0.0
    m = mean(values)
    return math.sqrt(math.fsum((x - m) ** 2 for x in values) / (n - 1))


def t_quantile(df: float, confidence: float = CONFIDENCE) -> float:
    """The two-sided Student-t critical value (scipy)."""
    from scipy import stats as sst
    return float(sst.t.ppf(0.5 + confidence / 2, df))


@dataclass(frozen=True)
class Summary:
    """n values: mean, standard deviation and a confidence interval of the mean (None below 2 values)."""

    n: int
    mean: float
    sd: float
    ci_low: float | None
    ci_high: float | None
    min: float
    max: float

    def to_dict(self) -> dict[str, float | int | None]:
        return {"n": self.n, "mean": self.mean, "sd": self.sd, "ci95_low": self.ci_low, "ci95_high": self.ci_high,
                "min": self.min, "max": self.max}


def summarize(values: Sequence[float], confidence: float = CONFIDENCE) -> Summary:
    """Mean, sd and the Student-t confidence interval of the mean of per-run values."""
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("summary of no values")
    m, s = mean(xs), sd(xs)
    lo = hi = None
    if len(xs) >= 2:
        half = t_quantile(len(xs) - 1, confidence) * s / math.sqrt(len(xs))
        lo, hi = m - half, m + half
    return Summary(len(xs), m, s, lo, hi, min(xs), max(xs))


@dataclass(frozen=True)
class Difference:
    """B against A over repeated runs: Welch's interval of mean(B) - mean(A), and Mann-Whitney's p."""

    n_a: int
    n_b: int
    diff: float
    ci_low: float
    ci_high: float
    p_mann_whitney: float | None

    @property
    def significant(self) -> bool:
        """The interval of the difference excludes zero."""
        return self.ci_low > 0 or self.ci_high < 0


def difference(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Difference:
    """Welch's t confidence interval of mean(b) - mean(a) (each side needs 2 values or more)."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("a difference of means needs at least two runs on each side")
    ma, mb = mean(a), mean(b)
    va, vb = sd(a) ** 2 / len(a), sd(b) ** 2 / len(b)
    d = mb - ma
    se = math.sqrt(va + vb)
    if se == 0:
        lo = hi = d
    else:
        # Welch-Satterthwaite degrees of freedom
        df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1) if va else 0) + (vb ** 2 / (len(b) - 1) if vb else 0))
        half = t_quantile(df, confidence) * se
        lo, hi = d - half, d + half
    p = None
    if len(set(a) | set(b)) > 1:
        from scipy import stats as sst
        p = float(sst.mannwhitneyu(list(a), list(b), alternative="two-sided").pvalue)
    return Difference(len(a), len(b), d, lo, hi, p)


@dataclass(frozen=True)
class NoiseBand:
    """How much a single run's value moves between runs of the same seed: relative, with an absolute floor.

    A change exceeds the band when it is larger than the floor and larger than rel times the smaller of
    the two values (symmetric: halving and doubling are the same size of change).

    Sets of runs are judged by the interval of the difference of their means, which knows the noise
    within each set but not what moves a whole set at once: two sets run at different times meet a
    different machine load, and then every run of one set is a little slower. With tight sets the
    interval excludes zero for such a shift (CI called 7.44 -> 7.42 Mbit/s, 0.3 %, "worse"), so a
    set's difference must also exceed set_rel times the baseline's mean. 2 % is below any change
    worth acting on for a rate, a delay or a count, and above the 0.3 % such shifts were seen to make.
    """

    rel: float
    abs: float = 0.0
    set_abs: float | None = None    # the floor for sets of runs, when not abs (their interval already knows the noise)
    set_rel: float = 0.02           # sets of runs: the difference must also exceed this fraction of A's mean

    def set_floor(self, baseline: float) -> float:
        """The smallest difference of means that counts as a change for sets of runs with this baseline mean."""
        return max(self.abs if self.set_abs is None else self.set_abs, self.set_rel * abs(baseline))

    def exceeded(self, a: float, b: float) -> bool:
        d = abs(b - a)
        return d > self.abs and d > self.rel * min(abs(a), abs(b))


@dataclass(frozen=True)
class CountBand:
    """When a single run's proportion (k of n: probes lost of probes sent) moved beyond noise.

    Both must hold: Fisher's exact test rejects "the same proportion on both sides" at level alpha
    (so 2 of 20 against 0 of 20 is never a change, however large in percent), and the proportions
    differ by more than floor (lost probes cluster: a ping meeting a full drop-tail queue is lost
    together with its neighbours, so the test alone, which assumes independent probes, flags more
    than it should; the floor is the spread measured between same-seed runs).
    """

    alpha: float
    floor: float

    def p_value(self, ka: int, na: int, kb: int, nb: int) -> float:
        from scipy import stats as sst
        return float(sst.fisher_exact([[ka, na - ka], [kb, nb - kb]], alternative="two-sided")[1])

    def exceeded(self, ka: int, na: int, kb: int, nb: int) -> bool:
        if na <= 0 or nb <= 0:
            return False
        return abs(kb / nb - ka / na) > self.floor and self.p_value(ka, na, kb, nb) < self.alpha


def judge_counts(a: tuple[int, int], b: tuple[int, int], higher_is_better: bool, band: CountBand) -> tuple[str, str]:
    """("better" | "worse" | "same", how) for one run's k of n (B) against another's (A), by CountBand."""
    (ka, na), (kb, nb) = a, b
    p = band.p_value(ka, na, kb, nb) if na > 0 and nb > 0 else 1.0
    how = (f"{ka} of {na} against {kb} of {nb}: Fisher's exact p={p:.3g} (changed if p < {band.alpha:g} "
           f"and more than {band.floor * 100:g} points apart)")
    if not band.exceeded(ka, na, kb, nb):
        return "same", how
    return ("better" if (kb / nb > ka / na) == higher_is_better else "worse"), how


def judge(a: Sequence[float], b: Sequence[float], higher_is_better: bool, band: NoiseBand) -> tuple[str, str]:
    """("better" | "worse" | "same", how it was decided) for B against A.

    One run on either side: the change must exceed the metric's single-run noise band.
    Two or more on both: the 95 % interval of the difference of means must exclude zero and the
    difference must exceed the band's set floor: its absolute floor and set_rel of A's mean
    (a real but negligible change is "same").
    """
    ma, mb = mean(a), mean(b)
    if len(a) >= 2 and len(b) >= 2:
        d = difference(a, b)
        how = f"95% CI of the difference [{d.ci_low:.4g}, {d.ci_high:.4g}]"
        if d.p_mann_whitney is not None:
            how += f", Mann-Whitney p={d.p_mann_whitney:.3g}"
        floor = band.set_floor(ma)
        how += f"; changed only if it excludes 0 and |difference| > {floor:.4g} ({band.set_rel * 100:g}% of A's mean"
        set_abs = band.abs if band.set_abs is None else band.set_abs
        how += f", at least {set_abs:g})" if set_abs else ")"
        if not d.significant or abs(d.diff) <= floor:
            return "same", how
        return ("better" if (d.diff > 0) == higher_is_better else "worse"), how
    how = f"single-run noise band ±{band.rel * 100:.0f}%" + (f" (at least {band.abs:g})" if band.abs else "")
    if not band.exceeded(ma, mb):
        return "same", how
    return ("better" if (mb > ma) == higher_is_better else "worse"), how


def longest_outage(probes: Iterable[tuple[float, bool]]) -> float | None:
    """Longest time without an answered probe, from (send time, answered) pairs: from the first unanswered
    probe of a run to the next answered one (or the last probe sent). None when no probe was sent.
    The one definition: `outage(flow)` expectations (through scenario.expect) and the report use it."""
    ps = sorted(probes)
    if not ps:
        return None
    worst = 0.0
    gap_start: float | None = None
    for t, ok in ps:
        if not ok and gap_start is None:
            gap_start = t
        elif ok and gap_start is not None:
            worst = max(worst, t - gap_start)
            gap_start = None
    if gap_start is not None:
        worst = max(worst, ps[-1][0] - gap_start)
    return worst


def derived_seed(base: int, repetition: int) -> int:
    """The seed of repetition r (1-based) of a run whose scenario seed is base: r=1 keeps base.

    Later repetitions step by a large prime so neighbouring bases never share a repetition's seed
    for small repeat counts, and the mapping is reproducible by hand.
    """
    if repetition < 1:
        raise ValueError("repetitions count from 1")
    return (base + (repetition - 1) * 1_000_003) % (2 ** 31)
