"""A mergeable duration sketch: counts over fixed log-spaced buckets (DDSketch-style mapping).

A positive value ``v`` falls in bucket ``i = ceil(log(v) / log(GAMMA))``, i.e. ``(GAMMA**(i-1), GAMMA**i]``;
values ``<= MIN_VALUE`` (zero durations) share bucket ``ZERO_KEY`` (index ``ZERO_INDEX``). A quantile is answered with the
bucket's representative ``2 * GAMMA**i / (GAMMA + 1)``, whose relative distance to any value of that bucket
is at most ``RELATIVE_ERROR``: the quantile read from a sketch is within ``RELATIVE_ERROR`` (2 %) of the
exact nearest-rank quantile (``numpy.percentile(..., method="inverted_cdf")``) of the same values.
Sketches merge by adding counts, so per-minute sketches combine into exact-rank sketches of any range.

Stored form (the rollups' ``duration_sketch`` column): the ``(index, count)`` pairs sorted by index as packed
big-endian records (``DTYPE``: 4-byte index, 8-byte count; empty sketch = ``b""``). Many stored sketches
decode in one ``numpy.frombuffer`` over their concatenation (``decode_many``) and merge per group with array
operations (``merge_grouped``, ``grouped_quantiles``): no per-row parsing. The dict form (``Sketch``) stays
for single sketches and tests; ``to_bytes``/``from_bytes`` convert.
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
DTYPE = np.dtype([("k", ">i4"), ("c", ">i8")])  # PostgreSQL's int4send || int8send byte order
RECORD = DTYPE.itemsize


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


def to_bytes(sketch: Mapping[str, int] | None) -> bytes:
    """The stored form of a dict sketch."""
    if not sketch:
        return b""
    keys = np.fromiter((int(k) for k in sketch), dtype=np.int64, count=len(sketch))
    counts = np.fromiter((int(c) for c in sketch.values()), dtype=np.int64, count=len(sketch))
    return encode_grouped(np.zeros(len(keys), dtype=np.int64), keys, counts, 1)[0]


def from_bytes(blob: bytes | None) -> Sketch:
    """The dict form of a stored sketch."""
    records = np.frombuffer(blob or b"", dtype=DTYPE)
    return {str(int(k)): int(c) for k, c in zip(records["k"], records["c"], strict=True)}


def decode_many(blobs: Sequence[bytes | memoryview | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indexes, counts, lengths)`` of many stored sketches at once: their records concatenated, and the
    number of records of each (0 for an empty or None sketch)."""
    parts = [bytes(b) if b is not None and not isinstance(b, bytes) else (b or b"") for b in blobs]
    lengths = np.fromiter((len(b) // RECORD for b in parts), dtype=np.int64, count=len(parts))
    records = np.frombuffer(b"".join(parts), dtype=DTYPE)
    return records["k"].astype(np.int64), records["c"].astype(np.int64), lengths


def _combined(group: np.ndarray, index: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Records sorted by (group, index) with the counts of equal (group, index) pairs added."""
    order = np.lexsort((index, group))
    group, index, count = group[order], index[order], count[order]
    if group.size == 0:
        return group, index, count
    new = np.ones(group.size, dtype=bool)
    new[1:] = (group[1:] != group[:-1]) | (index[1:] != index[:-1])
    starts = np.flatnonzero(new)
    return group[starts], index[starts], np.add.reduceat(count, starts)


def encode_grouped(group: np.ndarray, index: np.ndarray, count: np.ndarray, n_groups: int) -> list[bytes]:
    """One stored sketch per group ``0 .. n_groups-1`` from ``(group, index, count)`` records (any order,
    repeats added)."""
    group, index, count = _combined(np.asarray(group, np.int64), np.asarray(index, np.int64), np.asarray(count, np.int64))
    records = np.empty(group.size, dtype=DTYPE)
    records["k"], records["c"] = index, count
    buffer = records.tobytes()
    bounds = np.searchsorted(group, np.arange(n_groups + 1), side="left") * RECORD
    return [buffer[bounds[i] : bounds[i + 1]] for i in range(n_groups)]


def merge_grouped(codes: np.ndarray, blobs: Sequence[bytes | None], n_groups: int) -> list[bytes]:
    """The merge of the stored sketches sharing a group code (``codes[i]`` is the group of ``blobs[i]``),
    one stored sketch per group."""
    index, count, lengths = decode_many(blobs)
    return encode_grouped(np.repeat(np.asarray(codes, dtype=np.int64), lengths), index, count, n_groups)


def grouped_quantiles(
    codes: np.ndarray, sketches: Sequence[bytes | Mapping[str, int] | None], n_groups: int, qs: Sequence[float]
) -> np.ndarray:
    """Quantiles of the merge of the sketches sharing a group code, for every group at once.

    ``codes[i]`` (0 .. n_groups-1) is the group of ``sketches[i]`` (stored or dict form). Returns an
    ``(n_groups, len(qs))`` array (NaN for a group without values). Same answers as
    ``quantile(merge(...), q)``, vectorized.
    """
    out = np.full((n_groups, len(qs)), np.nan)
    blobs = [s if s is None or isinstance(s, (bytes, memoryview)) else to_bytes(s) for s in sketches]
    index, count, lengths = decode_many(blobs)
    if index.size == 0 or n_groups == 0:
        return out
    group = np.repeat(np.asarray(codes, dtype=np.int64), lengths)
    dense = _dense_counts(group, index, count, n_groups)
    if dense is not None:  # a (group × bucket) grid: one bincount instead of sorting every record
        grid, values = dense
        cumulative = np.cumsum(grid, axis=1)
        totals = cumulative[:, -1]
        present = totals > 0
        for j, q in enumerate(qs):
            rank = np.maximum(np.ceil(q * totals), 1)
            position = (cumulative >= rank[:, None]).argmax(axis=1)
            out[present, j] = values[position][present]
        return out
    group, index, count = _combined(group, index, count)
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


DENSE_CELLS = 2_000_000  # groups × bucket range up to which ``grouped_quantiles`` counts on a grid


def _dense_counts(
    group: np.ndarray, index: np.ndarray, count: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The counts on an ``(n_groups, buckets)`` grid whose column 0 is the zero bucket and the others the
    bucket indexes from the smallest to the largest present, with each column's representative value; None
    when the grid would exceed ``DENSE_CELLS``. Counts are exact (float64 holds integers up to 2**53)."""
    positive = index != ZERO_INDEX
    lo = int(index[positive].min()) - 1 if positive.any() else 0
    hi = int(index[positive].max()) if positive.any() else 0
    width = hi - lo + 1
    if n_groups * width > DENSE_CELLS:
        return None
    column = np.where(positive, index - lo, 0)
    grid = np.bincount(group * width + column, weights=count, minlength=n_groups * width).reshape(n_groups, width)
    values = 2.0 * np.power(GAMMA, np.arange(lo, hi + 1, dtype=float)) / (GAMMA + 1.0)
    values[0] = 0.0
    return grid, values
