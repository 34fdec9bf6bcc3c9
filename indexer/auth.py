"""Access control: who is asking (trusted proxy headers or API tokens) and the audit log.

The web layer hands us the request headers and the peer address; we answer
with an `Identity` (a name and groups) or None. Groups are what
`catalog.visible` checks against a restricted postmortem's audience.

- `PML_AUTH=off`: nobody has an identity, so restricted postmortems are served
  to nobody (fail closed) and writes are open, as in the single-user setup.
- `PML_AUTH=proxy`: `X-Forwarded-User` / `X-Forwarded-Groups` are believed only
  when the direct peer is one of `PML_TRUSTED_PROXIES`; from anywhere else they
  are ignored. Bearer tokens work too, for scripts that do not pass the proxy.
- `PML_AUTH=token`: only `Authorization: Bearer <token>`.

Tokens are random secrets shown once; only their SHA-256 is stored (a
high-entropy secret needs no slow hash).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from indexer.config import Settings
from indexer.db import models, store
from indexer.db.models import ApiToken, AuditEntry

MODES = ("off", "proxy", "token")
TOKEN_PREFIX = "pml_"
USER_HEADER = "x-forwarded-user"
GROUPS_HEADER = "x-forwarded-groups"
MAX_GROUPS = 200  # a header with more is not an SSO proxy's


class AuthError(Exception):
    """The request claims an identity we cannot accept; the message is safe to show."""


class Forbidden(Exception):
    """The identity is known but not allowed to do this; the message is safe to show."""


@dataclass(frozen=True)
class Identity:
    name: str
    groups: frozenset[str]
    via: str  # "proxy" or "token"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def split_groups(text: str) -> frozenset[str]:
    """Comma-separated groups, blanks dropped."""
    groups = frozenset(part.strip() for part in text.split(",") if part.strip())
    if len(groups) > MAX_GROUPS:
        raise AuthError(f"more than {MAX_GROUPS} groups")
    return groups


def trusted_networks(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """`PML_TRUSTED_PROXIES`: comma-separated addresses or CIDR blocks."""
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"PML_TRUSTED_PROXIES: '{part}' is not an address or CIDR") from None
    return networks


def is_trusted(peer: str | None, networks: list[Any]) -> bool:
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:  # e.g. "testclient" or a Unix socket
        return False
    return any(address in network for network in networks)


def create_token(engine: Engine, name: str, groups: list[str]) -> tuple[ApiToken, str]:
    """A new token; the secret is returned once and never stored."""
    name = name.strip()
    if not name or len(name) > 128:
        raise AuthError("a token name is 1 to 128 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    clean = sorted({g.strip() for g in groups if g.strip()})
    with store.session(engine) as db:
        if db.exec(select(ApiToken).where(ApiToken.name == name)).first() is not None:
            raise AuthError(f"a token named '{name}' already exists")
        row = ApiToken(name=name, token_hash=_hash(secret), groups=clean, created_at=_now())
        db.add(row)
        db.commit()
        db.refresh(row)
        return row, secret


def revoke_token(engine: Engine, name_or_id: str) -> ApiToken:
    """Revoke by name (or numeric id); revoking twice keeps the first date."""
    with store.session(engine) as db:
        row = db.exec(select(ApiToken).where(ApiToken.name == name_or_id)).first()
        if row is None and name_or_id.isdigit():
            row = db.get(ApiToken, int(name_or_id))
        if row is None:
            raise AuthError(f"no token named '{name_or_id}'")
        if row.revoked_at is None:
            row.revoked_at = _now()
            db.add(row)
            db.commit()
            db.refresh(row)
        return row


def list_tokens(engine: Engine) -> list[ApiToken]:
    with store.session(engine) as db:
        return list(db.exec(select(ApiToken).order_by(col(ApiToken.id))))


def _token_identity(engine: Engine, authorization: str) -> Identity:
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthError("use 'Authorization: Bearer <token>'")
    with store.session(engine) as db:
        row = db.exec(select(ApiToken).where(ApiToken.token_hash == _hash(secret.strip()))).first()
    if row is None or row.revoked_at is not None:
        raise AuthError("unknown or revoked token")
    return Identity(f"token:{row.name}", frozenset(row.groups), "token")


def resolve(
    settings: Settings, engine: Engine, headers: Mapping[str, str], peer: str | None
) -> Identity | None:
    """The identity of a request, None when it has none; AuthError for a bad token."""
    if settings.auth == "off":
        return None
    authorization = headers.get("authorization")
    if authorization:
        return _token_identity(engine, authorization)
    if settings.auth != "proxy":
        return None
    if not is_trusted(peer, trusted_networks(settings.trusted_proxies)):
        return None  # anyone can send these headers; only the proxy's count
    user = (headers.get(USER_HEADER) or "").strip()
    if not user:
        return None
    return Identity(user[:256], split_groups(headers.get(GROUPS_HEADER, "")), "proxy")


def reads_database(settings: Settings, headers: Mapping[str, str]) -> bool:
    """Whether `resolve` would look a token up in the database for these headers."""
    return settings.auth != "off" and bool(headers.get("authorization"))


def check_writer(settings: Settings, identity: Identity | None) -> None:
    """Writes need an identity while access control is on (and PML_WRITE_GROUP if set)."""
    if settings.auth == "off":
        return
    if identity is None:
        raise AuthError("writing needs an API token or a signed-in user")
    if settings.write_group and settings.write_group not in identity.groups:
        raise Forbidden(f"writing needs membership of '{settings.write_group}'")


def is_admin(settings: Settings, identity: Identity | None) -> bool:
    """Whether the caller is in PML_ADMIN_GROUP (nobody while it is unset)."""
    return bool(identity and settings.admin_group and settings.admin_group in identity.groups)


def check_admin(settings: Settings, identity: Identity | None) -> None:
    """The audit log is for PML_ADMIN_GROUP only (nobody while it is unset)."""
    if identity is None:
        raise AuthError("the audit log needs an API token or a signed-in user")
    if not settings.admin_group or settings.admin_group not in identity.groups:
        raise Forbidden("the audit log is only for the PML_ADMIN_GROUP group")


def audit_read(engine: Engine, identity: Identity | None, target: str, address: str | None) -> None:
    """Log a read by someone entitled to restricted postmortems.

    Called once per request, before the answer is known, so it logs every
    request that *could* return a restricted postmortem: more than the reads
    that did, never fewer.
    """
    if identity is None or not identity.groups & restricted_audiences(engine):
        return
    record(engine, identity.name, "read", target, address)


def record(
    engine: Engine, actor: str, action: str, target: str, address: str | None = None
) -> None:
    """Append one audit entry (its own transaction: it must not ride on a failing write)."""
    entry = AuditEntry(
        at=_now(), actor=actor[:256], action=action[:64], target=target[:2048], address=address
    )
    with store.session(engine) as db:
        db.add(entry)
        db.commit()


def entries(
    engine: Engine, since: dt.datetime | None = None, limit: int = 1000
) -> list[AuditEntry]:
    """Audit entries, oldest first, from `since` on."""
    statement = select(AuditEntry)
    if since is not None:
        if since.tzinfo is None:  # a date on the command line means UTC
            since = since.replace(tzinfo=dt.UTC)
        statement = statement.where(col(AuditEntry.at) >= since)
    with store.session(engine) as db:
        return list(db.exec(statement.order_by(col(AuditEntry.id)).limit(limit)))


def restricted_audiences(engine: Engine) -> frozenset[str]:
    """Every group that some restricted postmortem is shown to."""
    statement = (
        select(models.PostmortemLink.value)
        .join(
            models.PostmortemRow,
            col(models.PostmortemRow.id) == models.PostmortemLink.postmortem_id,
        )
        .where(models.PostmortemLink.kind == "audience")
        .where(models.PostmortemRow.visibility == "restricted")
        .distinct()
    )
    with store.session(engine) as db:
        return frozenset(db.exec(statement))
