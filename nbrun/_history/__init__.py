"""History: value checks for ``log``, the in-memory buffer, the batched writer thread, the
columnar chunk format, and history as pandas DataFrames.

The hot path (``Run.log``) only calls :func:`clean_log` and appends finished rows to a
:class:`Writer`'s deque; encoding and disk work happen on the writer thread, in batches of at
most ``max_rows`` rows or every ``interval`` seconds.

The package's modules, each importing only those listed before it:

- ``values``: the checks and copies of logged values (rules 21-23, 43), ``MAX_STEP``;
- ``codec``: rows to columns, columns to one binary chunk and back;
- ``state``: the cumulative state (last, first, aggregates) stored with every chunk;
- ``frames``: chunks read into column pieces, :class:`Columns`, the history DataFrame;
- ``buckets``: per-bucket summaries of metrics for charts, the stored whole-chunk summaries
  (rule 68) and their cache;
- ``feeds``: live row feeds;
- ``blocks``: the fast lane, rows of floats packed into :class:`FloatBlock`;
- ``writer``: the :class:`Writer` thread.

Other modules import from ``nbrun._history`` itself: the names below.
"""

from __future__ import annotations

from .blocks import FloatBlock, FloatRows, encode_float_chunk, encode_float_rows
from .buckets import (
    BUCKET_COLUMNS,
    TIME_COLUMNS,
    BucketCache,
    bucket_points,
    chunk_buckets,
    chunk_summary,
    chunks_buckets,
    column_buckets,
    decode_summary,
    encode_summary,
    merge_buckets,
)
from .codec import build_columns, decode_chunk, encode_columns, split_columns
from .feeds import RowCheck, RowFeed, column_rows
from .frames import Columns, decode_pieces, key_filter, to_dataframe
from .state import advance_state, empty_state
from .values import (
    MAX_DEPTH,
    MAX_STEP,
    SYSTEM_KEYS,
    _convert,
    clean_log,
    clean_row,
    json_key,
    step_error,
)
from .writer import Writer

__all__ = [
    "BUCKET_COLUMNS",
    "MAX_DEPTH",
    "MAX_STEP",
    "SYSTEM_KEYS",
    "TIME_COLUMNS",
    "BucketCache",
    "Columns",
    "FloatBlock",
    "FloatRows",
    "RowCheck",
    "RowFeed",
    "Writer",
    "_convert",
    "advance_state",
    "bucket_points",
    "build_columns",
    "chunk_buckets",
    "chunk_summary",
    "chunks_buckets",
    "clean_log",
    "clean_row",
    "column_buckets",
    "column_rows",
    "decode_chunk",
    "decode_pieces",
    "decode_summary",
    "empty_state",
    "encode_columns",
    "encode_float_chunk",
    "encode_float_rows",
    "encode_summary",
    "json_key",
    "key_filter",
    "merge_buckets",
    "split_columns",
    "step_error",
    "to_dataframe",
]
