"""Field types shared by the API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST_YEAR, LATEST_YEAR = 1970, 2200


def _sane_year(value: datetime) -> datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"the year must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


#: An ISO 8601 timestamp with a zone, within a range every database and clock can hold.
Timestamp = Annotated[AwareDatetime, AfterValidator(_sane_year)]
