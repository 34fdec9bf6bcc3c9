"""Which service an alert is about, from names teams did not all declare.

    guess = resolve(taxonomy, ("pgbouncer-orders", "pgbouncer"), teams=("fulfilment",))
    guess.service, guess.how   # "orders", "part"

Tried in order, the first that answers wins:

1. `alias`: a name is a service's id or one of its taxonomy aliases
   (`Taxonomy.service_for`: case and punctuation ignored).
2. `part`: a name carries a service inside a longer one, split at its
   punctuation (`pgbouncer-orders`, `checkout-api-prod`, `orders_db_primary`):
   the longest run of parts that is a service's id or alias. Earlier names
   are trusted more than later ones (the `service` label over `instance`).
3. `team`: a team label or namespace names a team that owns exactly one
   service, or names a service by its parts (a namespace called `orders`).
   A team owning several services gives no single service, but its
   services are kept (`team_services`) to weigh postmortems a little.
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.format.taxonomy import Taxonomy, name_key

MAX_PARTS = 12  # a label value split into more parts than this is not a name


@dataclass(frozen=True)
class ServiceGuess:
    service: str | None = None
    how: str | None = None  # alias, part or team
    name: str | None = None  # the alert's name it was read from
    team_services: tuple[str, ...] = ()

    def reason(self) -> str | None:
        """Why the alert is taken to be about this service, for a person."""
        if self.service is None:
            if self.team_services:
                return f"owned by the team of {', '.join(self.team_services)}"
            return None
        if self.how == "alias":
            return f"{self.name!r} is {self.service} in the taxonomy"
        if self.how == "part":
            return f"{self.name!r} names {self.service}"
        return f"{self.name!r} is the team that owns {self.service}"


def resolve(
    taxonomy: Taxonomy, names: tuple[str, ...], teams: tuple[str, ...] = ()
) -> ServiceGuess:
    """The service the alert's names and teams point at (see the module docstring)."""
    for name in names:
        found = taxonomy.service_for([name])
        if found:
            return ServiceGuess(found, "alias", name)
    known = _known_names(taxonomy)
    for name in names:
        found = _by_parts(name, known)
        if found:
            return ServiceGuess(found, "part", name)
    for team in teams:
        owned = owned_by(taxonomy, team)
        if len(owned) == 1:
            return ServiceGuess(owned[0], "team", team)
        found = taxonomy.service_for([team]) or _by_parts(team, known)
        if found:
            return ServiceGuess(found, "part", team)
        if owned:
            return ServiceGuess(team_services=tuple(owned), name=team)
    return ServiceGuess()


def owned_by(taxonomy: Taxonomy, team: str) -> list[str]:
    """The services the taxonomy gives to `team` (compared as names are)."""
    wanted = name_key(team)
    return [
        term.id
        for term in taxonomy.services.values()
        if term.team and name_key(term.team) == wanted
    ]


def _known_names(taxonomy: Taxonomy) -> dict[tuple[str, ...], str]:
    """Every service id and alias as its tuple of parts."""
    known: dict[tuple[str, ...], str] = {}
    for term in taxonomy.services.values():
        for name in (term.id, *term.aliases):
            parts = tuple(part for part in name_key(name).split("-") if part)
            if parts:
                known.setdefault(parts, term.id)
    return known


def _by_parts(name: str, known: dict[tuple[str, ...], str]) -> str | None:
    """The service whose name is the longest run of `name`'s parts, leftmost on a tie."""
    parts = [part for part in name_key(name).split("-") if part]
    if not parts or len(parts) > MAX_PARTS:
        return None
    for size in range(len(parts), 0, -1):
        for start in range(len(parts) - size + 1):
            found = known.get(tuple(parts[start : start + size]))
            if found:
                return found
    return None
