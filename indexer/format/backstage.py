"""Service identity from a Backstage catalog: components as services, owners as teams.

    entities = backstage.entities(data)              # catalog-info.yaml or the API's JSON
    plan = backstage.plan(entities, current_text)     # what would change
    new_text = backstage.merged(current_text, plan)   # taxonomy.yaml with it

A catalog is read from `catalog-info.yaml` files (one or more YAML documents)
or from the catalog API's entity list (`GET /api/catalog/entities`, a JSON
list, or `/entities/by-query`, `{"items": [...]}`). Each `Component` becomes a
taxonomy service: its `metadata.name` the id, `spec.owner` (`group:default/payments`
-> `payments`) the team, and as aliases its `metadata.title` and the
vendor annotations that name it elsewhere, so one service is one service in
every tool:

- `pagerduty.com/service-id` (a PagerDuty service id);
- `opsgenie.com/component-selector` (the `service:` or `tag:service:` value
  it selects on);
- `firehydrant.com/service-name`, `incident.io/...` and `grafana/...`
  annotations whose value is a plain name.

Secrets in annotations (`pagerduty.com/integration-key`) are never copied.
Existing services keep everything they have; the import only adds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from indexer.format.frontmatter import FrontMatterError, load

_NAME = re.compile(r"[^a-z0-9]+")
_SELECTOR = re.compile(r"service:([\w.\-]+)")
_PLAIN = re.compile(r"[\w .\-/:]{1,128}")
ALIAS_ANNOTATIONS = ("pagerduty.com/service-id", "firehydrant.com/service-name")
VENDOR_PREFIXES = ("incident.io/", "grafana/")
SECRET_WORDS = ("key", "token", "secret", "password", "selector")


class CatalogError(ValueError):
    """The file is not a Backstage catalog; the message says why and is safe to show."""


@dataclass
class Service:
    id: str
    team: str | None = None
    description: str = ""
    aliases: list[str] = field(default_factory=list)


def entities(data: bytes) -> list[dict[str, Any]]:
    """The entities of a catalog file: the API's JSON, or YAML documents."""
    text = data.decode("utf-8-sig", errors="replace")
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        try:
            found = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as error:
            raise CatalogError(f"neither JSON nor YAML: {str(error).splitlines()[0]}") from None
    else:
        found = document.get("items", []) if isinstance(document, dict) else document
    if not isinstance(found, list) or not all(isinstance(e, dict) for e in found):
        raise CatalogError("expected catalog entities (kind, metadata, spec)")
    if found and not any("kind" in e and "metadata" in e for e in found):
        raise CatalogError("no entity has a kind and metadata: not a Backstage catalog")
    return found


def services(found: list[dict[str, Any]]) -> list[Service]:
    """One service per Component, in the catalog's order (a repeated name merges)."""
    result: dict[str, Service] = {}
    for entity in found:
        if str(entity.get("kind", "")).lower() != "component":
            continue
        metadata = _mapping(entity.get("metadata"))
        spec = _mapping(entity.get("spec"))
        name = str(metadata.get("name") or "").strip()
        identifier = _NAME.sub("-", name.lower()).strip("-")
        if not identifier:
            continue
        service = result.setdefault(identifier, Service(identifier))
        service.team = service.team or _owner(spec.get("owner"))
        service.description = service.description or str(metadata.get("description") or "")
        for alias in (metadata.get("title"), name, *_annotation_aliases(metadata)):
            text = alias.strip() if isinstance(alias, str) else ""
            if text and text != identifier and text not in service.aliases:
                service.aliases.append(text)
    return list(result.values())


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _owner(value: Any) -> str | None:
    """`group:default/payments` -> `payments`; `user:...` owners are people, not teams."""
    if not isinstance(value, str) or not value.strip():
        return None
    kind, _, rest = value.strip().rpartition(":") if ":" in value else ("group", "", value)
    if kind.lower() == "user":
        return None
    return rest.rpartition("/")[2] or None


def _annotation_aliases(metadata: dict[str, Any]) -> list[str]:
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        return []
    found: list[str] = []
    for key, value in annotations.items():
        if not isinstance(value, str):
            continue
        if key == "opsgenie.com/component-selector":
            found.extend(_SELECTOR.findall(value))
        elif key in ALIAS_ANNOTATIONS or (
            key.startswith(VENDOR_PREFIXES)
            and not any(word in key.lower() for word in SECRET_WORDS)
            and _PLAIN.fullmatch(value.strip())
        ):
            found.append(value.strip())
    return found


@dataclass
class Plan:
    """What an import changes: new services, and aliases or teams added to existing ones."""

    added: list[Service] = field(default_factory=list)
    extended: dict[str, list[str]] = field(default_factory=dict)
    teams: dict[str, str] = field(default_factory=dict)


def plan(found: list[Service], taxonomy_text: str) -> Plan:
    """Compare the catalog's services with the taxonomy's; nothing existing is removed."""
    current = {str(e.get("id")): e for e in _services_of(_document(taxonomy_text))}
    result = Plan()
    for service in found:
        entry = current.get(service.id)
        if entry is None:
            result.added.append(service)
            continue
        known = {str(a) for a in entry.get("aliases") or []}
        new = [alias for alias in service.aliases if alias not in known]
        if new:
            result.extended[service.id] = new
        if service.team and not entry.get("team"):
            result.teams[service.id] = service.team
    return result


def merged(taxonomy_text: str, change: Plan) -> str:
    """The taxonomy text with the plan applied; its leading comment block is kept."""
    document = _document(taxonomy_text)
    entries = _services_of(document)
    by_id = {str(e.get("id")): e for e in entries}
    for identifier, aliases in change.extended.items():
        known = by_id[identifier]
        known["aliases"] = [*(known.get("aliases") or []), *aliases]
    for identifier, team in change.teams.items():
        by_id[identifier]["team"] = team
    entries.extend(_entry(service) for service in change.added)
    document["services"] = entries
    header = "".join(_leading_comments(taxonomy_text))
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def _entry(service: Service) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": service.id}
    if service.team:
        entry["team"] = service.team
    if service.description:
        entry["description"] = service.description
    if service.aliases:
        entry["aliases"] = list(service.aliases)
    return entry


def _document(text: str) -> dict[str, Any]:
    if not text.strip():
        return {"schema": 1, "services": []}
    try:
        data = load(text)
    except FrontMatterError as error:
        raise CatalogError(f"taxonomy.yaml line {error.line}: {error.message}") from None
    if not isinstance(data, dict):
        raise CatalogError("taxonomy.yaml is not a mapping")
    return data


def _services_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    entries = document.get("services") or []
    if not isinstance(entries, list):
        raise CatalogError("taxonomy.yaml: 'services' is not a list")
    return [e if isinstance(e, dict) else {"id": str(e)} for e in entries]


def _leading_comments(text: str) -> list[str]:
    lines = []
    for line in text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines
