"""How a flow's parameters read on the Prefect run form.

Prefect titles each parameter with its Python name, whatever `Field(title=...)` says; a
title given in `json_schema_extra` is applied last and stays. Optional values are plain
text boxes (`meetstream_catalog.request.meeting.OptionalText`), never a type toggle.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field


def titled(title: str) -> Any:
    """`Annotated[T, titled("Human title")]` for a flow parameter."""
    return Field(json_schema_extra={"title": title})
