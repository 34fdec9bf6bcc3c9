"""On-call: the library brought to an alert (precedents, and where they are delivered).

- `reading`: what an alert or incident says, read from a vendor's payload
  by the parsers intake uses (`read`, `from_incident`, `AlertReadError`).
- `services`: which service an alert is about, from aliases, name parts
  and team ownership.
- `seen_before`: the postmortems to read, each with its reasons, or an
  honest "nothing matched well".
"""

from indexer.oncall.reading import SOURCES, AlertReadError, AlertSaid, from_incident, read
from indexer.oncall.seen_before import Answer, Item, Weights, for_incident, seen_before

__all__ = [
    "SOURCES",
    "AlertReadError",
    "AlertSaid",
    "Answer",
    "Item",
    "Weights",
    "for_incident",
    "from_incident",
    "read",
    "seen_before",
]
