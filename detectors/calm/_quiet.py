"""Silences the warning Apache Beam logs on the root logger whenever its optional BigQuery client is absent.

`WARNING:root:apitools not found, and bigquery client libraries are not available...` was printed by every
`sleuth watch`: it concerns a Beam extra sleuth never uses. Imported first by `detectors.calm`, before Beam is.
"""

from __future__ import annotations

import logging


class QuietBeamImport(logging.Filter):
    """Drops that one record; every other record passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("apitools not found")


if not any(isinstance(f, QuietBeamImport) for f in logging.getLogger().filters):
    logging.getLogger().addFilter(QuietBeamImport())
