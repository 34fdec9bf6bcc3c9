"""Incident data: the canonical incident, its import from other tools, Alertmanager and near-misses.

    report = importers.import_bytes(engine, "pagerduty", data)   # indexer.incidents.importers
    incidents.relink(engine)                                      # after postmortems changed

`model` holds the canonical incident and how it is stored and linked to
postmortems; `importers/` turns vendor exports into it; `alerts` receives
Alertmanager notifications and logs near-misses (`nearmiss`).
"""

from indexer.db.models import DURATIONS, UNKNOWN_SERVICE
from indexer.incidents.model import (
    HISTORY_FILE,
    UNCLASSIFIED,
    VERSION_KEY,
    ImportReport,
    Incident,
    relink,
    upsert,
    version,
)

__all__ = [
    "DURATIONS",
    "HISTORY_FILE",
    "UNCLASSIFIED",
    "UNKNOWN_SERVICE",
    "VERSION_KEY",
    "ImportReport",
    "Incident",
    "relink",
    "upsert",
    "version",
]
