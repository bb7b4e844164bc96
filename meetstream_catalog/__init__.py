"""meetstream-catalog: MeetStream per-participant media in your storage, and a catalog of it.

The data team's entry points are re-exported here: `read_table` (pandas, with filter
pushdown) and `dataset` (a pyarrow dataset for DuckDB, Polars and the rest) over the
catalog's Delta tables. They load on first use, so `meetstream-catalog simulator` and the
webhook receiver do not pay for pandas and delta-rs at start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meetstream_catalog.catalog import dataset, read_table

__all__ = ["dataset", "read_table"]


def __getattr__(name: str) -> object:
    if name in __all__:
        return getattr(import_module("meetstream_catalog.catalog"), name)
    raise AttributeError(f"module 'meetstream_catalog' has no attribute {name!r}")
