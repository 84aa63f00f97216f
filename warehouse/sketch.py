"""A mergeable duration sketch: counts over fixed log-spaced buckets (DDSketch-style mapping).

A positive value ``v`` falls in bucket ``i = ceil(log(v) / log(GAMMA))``, i.e. ``(GAMMA**(i-1), GAMMA**i]``;
values ``<= MIN_VALUE`` (zero durations) share bucket ``ZERO_KEY`` (index ``ZERO_INDEX``). A quantile is answered with the
bucket's representative ``2 * GAMMA**i / (GAMMA + 1)``, whose relative distance to any value of that bucket
is at most ``RELATIVE_ERROR``: the quantile read from a sketch is within ``RELATIVE_ERROR`` (2 %) of the
exact nearest-rank quantile (``numpy.percentile(..., method="inverted_cdf")``) of the same values.
Sketches merge by adding counts, so per-minute sketches combine into exact-rank sketches of any range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

RELATIVE_ERROR = 0.02
GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(GAMMA)
MIN_VALUE = 1e-6  # ms; anything at or below counts as zero
ZERO_INDEX = -(10**9)
ZERO_KEY = str(ZERO_INDEX)

Sketch = dict[str, int]


def bucket_keys(values: np.ndarray) -> np.ndarray:
    """Bucket index of each value (as int64; ``ZERO_INDEX`` marks the zero bucket)."""
    values = np.asarray(values, dtype=float)
    out = np.full(values.shape, ZERO_INDEX, dtype=np.int64)
    positive = values > MIN_VALUE
    out[positive] = np.ceil(np.log(values[positive]) / _LOG_GAMMA).astype(np.int64)
    return out


def from_values(values: Iterable[float]) -> Sketch:
    """Sketch of ``values`` (NaN ignored)."""
    arr = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float)
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        return {}
    keys, counts = np.unique(bucket_keys(arr), return_counts=True)
    return {str(int(k)): int(c) for k, c in zip(keys, counts, strict=True)}


def merge(sketches: Iterable[Mapping[str, int] | None]) -> Sketch:
    """Sum of sketches (``None`` entries are skipped)."""
    total: dict[str, int] = {}
    for sketch in sketches:
        if not sketch:
            continue
        for key, count in sketch.items():
            total[key] = total.get(key, 0) + int(count)
    return total


def quantile(sketch: Mapping[str, int] | None, q: float) -> float:
    """Nearest-rank ``q`` quantile (0 ≤ q ≤ 1) of a sketch; NaN when it is empty."""
    if not sketch:
        return math.nan
    items = sorted(((int(k), int(c)) for k, c in sketch.items()), key=lambda kc: kc[0])
    n = sum(c for _, c in items)
    if n <= 0:
        return math.nan
    rank = max(1, math.ceil(q * n))
    seen = 0
    for index, count in items:
        seen += count
        if seen >= rank:
            return representative(index)
    return representative(items[-1][0])


def representative(index: int) -> float:
    """The value reported for bucket ``index``."""
    if index == ZERO_INDEX:
        return 0.0
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


def grouped_quantiles(
    codes: np.ndarray, sketches: Sequence[Mapping[str, int] | None], n_groups: int, qs: Sequence[float]
) -> np.ndarray:
    """Quantiles of the merge of the sketches sharing a group code, for every group at once.

    ``codes[i]`` (0 .. n_groups-1) is the group of ``sketches[i]``. Returns an ``(n_groups, len(qs))``
    array (NaN for a group without values). Same answers as ``quantile(merge(...), q)``, vectorized.
    """
    out = np.full((n_groups, len(qs)), np.nan)
    keys: list[str] = []
    counts: list[int] = []
    lengths = np.zeros(len(sketches), dtype=np.int64)
    for i, sketch in enumerate(sketches):
        if sketch:
            keys.extend(sketch.keys())
            counts.extend(sketch.values())
            lengths[i] = len(sketch)
    if not keys or n_groups == 0:
        return out
    index = np.array(keys).astype(np.int64)
    count = np.asarray(counts, dtype=np.int64)
    group = np.repeat(np.asarray(codes, dtype=np.int64), lengths)
    order = np.lexsort((index, group))
    group, index, count = group[order], index[order], count[order]
    cumulative = np.cumsum(count)
    totals = np.bincount(group, weights=count, minlength=n_groups).astype(np.int64)
    starts = np.searchsorted(group, np.arange(n_groups), side="left")
    before = np.where(starts > 0, cumulative[np.maximum(starts - 1, 0)], 0)
    values = np.where(index == ZERO_INDEX, 0.0, 2.0 * np.power(GAMMA, index.astype(float)) / (GAMMA + 1.0))
    present = totals > 0
    for j, q in enumerate(qs):
        rank = np.maximum(np.ceil(q * totals).astype(np.int64), 1)
        position = np.searchsorted(cumulative, before + rank, side="left")
        out[present, j] = values[np.minimum(position, len(values) - 1)][present]
    return out
