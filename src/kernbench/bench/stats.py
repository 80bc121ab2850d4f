"""Statistics on raw timing samples: rank tests for changes, bootstrap intervals for ratios.

Every figure a report or a comparison states comes from the samples a results file keeps
(``samples_s``, seconds per call, one entry per sample), never from a median alone:

* :func:`change_p_value`: the two-sided Mann-Whitney U test (``scipy.stats.mannwhitneyu``), the
  rank test asv's ``continuous`` and ``compare`` use. Ranks need no assumption about the shape
  of a timing distribution (skewed, with a long tail of interrupted samples).
* :func:`ratio_interval`: a percentile bootstrap interval (``scipy.stats.bootstrap``) of a
  ratio of medians. When the two sample lists were taken round-robin in one run (sample ``i``
  of every target of a case comes from round ``i``), the pairs are resampled together, so a
  drift of the machine that slows one round slows both sides of its ratio.
* :func:`paired_ratios`: per-round ratios of two targets of one case, the samples of a
  comparison that judges a target relative to a reference measured in the same run.

Outliers are not removed: a sample interrupted by another process is part of what a user of a
shared machine gets. Medians and quartiles, and ranks in the tests, keep a few slow samples
from moving a figure, and intervals widen where samples disagree.
"""

from __future__ import annotations

import math

import numpy as np

#: Significance level of a change (asv's default).
ALPHA = 0.05
#: Confidence level of every interval the reports show.
CONFIDENCE = 0.95
#: Bootstrap resamples: enough for a stable 95% percentile interval of a median.
RESAMPLES = 2000


def _clean(samples) -> np.ndarray:
    a = np.asarray(samples, dtype=np.float64).reshape(-1)
    return a[np.isfinite(a)]


def change_p_value(before, after) -> float:
    """Two-sided Mann-Whitney U p-value that ``before`` and ``after`` come from one
    distribution; 1.0 where either side has fewer than two samples or all are tied."""
    from scipy.stats import mannwhitneyu

    a, b = _clean(before), _clean(after)
    if a.size < 2 or b.size < 2:
        return 1.0
    if np.ptp(np.concatenate([a, b])) == 0:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def paired_ratios(target, reference) -> np.ndarray:
    """Round-by-round ``target[i] / reference[i]`` over the rounds both took a sample in."""
    t, r = np.asarray(target, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    n = min(t.size, r.size)
    t, r = t[:n], r[:n]
    keep = (r > 0) & np.isfinite(t) & np.isfinite(r)
    return t[keep] / r[keep]


def ratio_interval(numerator, denominator, paired: bool = False,
                   confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float, float]:
    """(estimate, low, high) of ``median(numerator) / median(denominator)``.

    ``paired``: both lists were sampled round-robin in one run; their common rounds are
    resampled together. The interval is ``(nan, nan)`` with fewer than three samples a side
    (a bootstrap of two values says nothing).
    """
    from scipy.stats import bootstrap

    if paired:
        n = min(len(numerator), len(denominator))
        num = np.asarray(numerator, dtype=np.float64)[:n]
        den = np.asarray(denominator, dtype=np.float64)[:n]
    else:
        num, den = _clean(numerator), _clean(denominator)
    if num.size == 0 or den.size == 0 or np.median(den) <= 0:
        return math.nan, math.nan, math.nan
    estimate = float(np.median(num) / np.median(den))
    if num.size < 3 or den.size < 3:
        return estimate, math.nan, math.nan
    if np.ptp(num) == 0 and np.ptp(den) == 0:
        return estimate, estimate, estimate

    def ratio_of_medians(x, y, axis=-1):
        return np.median(x, axis=axis) / np.median(y, axis=axis)

    res = bootstrap((num, den), ratio_of_medians, paired=paired, vectorized=True,
                    n_resamples=RESAMPLES, confidence_level=confidence, method="percentile",
                    rng=np.random.default_rng(seed))
    low, high = (float(v) for v in (res.confidence_interval.low, res.confidence_interval.high))
    return estimate, low, high


def round_robin(a: dict, b: dict) -> bool:
    """Whether two records of one run were sampled round-robin in the same case, so that their
    samples pair by round: same run is the caller's knowledge; same case is checked here."""
    keys = ("kernel", "dtype", "size_label")
    return all(a.get(k) == b.get(k) for k in keys) and a.get("timer") == b.get("timer")
