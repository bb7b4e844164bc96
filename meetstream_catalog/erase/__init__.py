"""Erasure of a meeting or a person from every copy: media files, every table's rows, the
table history time travel reads, the export folders and MeetStream (issue 21). Re-exports
only; each name lives in the module named beside it.
"""

from meetstream_catalog.erase.plan import ErasurePlan, ExportTarget, format_plan, plan_erasure
from meetstream_catalog.erase.run import ErasureReport, run_erasure, unfinished_erasure
from meetstream_catalog.erase.source import meetstream_delete

__all__ = [
    "ErasurePlan",
    "ErasureReport",
    "ExportTarget",
    "format_plan",
    "meetstream_delete",
    "plan_erasure",
    "run_erasure",
    "unfinished_erasure",
]
