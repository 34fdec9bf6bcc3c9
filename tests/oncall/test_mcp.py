"""The MCP server through the SDK's own client, over streamable HTTP (a real `pml serve`) and
over stdio (a real `pml mcp` process). Restricted postmortems reach only their audience.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.conftest import ROOT, SAMPLE_LIBRARY
from tests.live_server import serve

TOOLS = {
    "search_postmortems",
    "get_postmortem",
    "related_postmortems",
    "seen_before_alert",
    "service_incidents",
    "service_trends",
}
SECRET = "2025-05-29-identity-credential-stuffing"
POOL = "2025-02-11-orders-pgbouncer-pool-exhaustion"
INSIDER = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "security"}


def structured(result: Any) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


async def session_calls(client: Client) -> dict[str, Any]:
    """What every test asks, through one client."""
    tools = {tool.name for tool in (await client.list_tools()).tools}
    search = structured(
        await client.call_tool("search_postmortems", {"query": "credential stuffing"})
    )
    filtered = structured(
        await client.call_tool(
            "search_postmortems", {"query": "pool", "service": ["orders"], "limit": 3}
        )
    )
    secret = await client.call_tool("get_postmortem", {"postmortem_id": SECRET})
    seen = structured(
        await client.call_tool(
            "seen_before_alert",
            {"alert_text": "PgbouncerPoolExhausted\nPgBouncer pool for pgbouncer-orders is full"},
        )
    )
    related = structured(await client.call_tool("related_postmortems", {"postmortem_id": POOL}))
    incidents = structured(await client.call_tool("service_incidents", {"service": "orders"}))
    trends = structured(await client.call_tool("service_trends", {"service": "orders"}))
    return {
        "tools": tools,
        "search": [hit["id"] for hit in search["results"]],
        "filtered": filtered,
        "secret_error": secret.is_error,
        "secret": None if secret.is_error else structured(secret),
        "seen": seen,
        "related": related,
        "incidents": incidents,
        "trends": trends,
    }


def check_outsider(answers: dict[str, Any]) -> None:
    assert answers["tools"] == TOOLS
    assert SECRET not in answers["search"]
    assert answers["secret_error"] is True
    assert all("orders" in hit["services"] for hit in answers["filtered"]["results"])
    assert answers["seen"]["service"] == "orders"
    assert answers["seen"]["items"][0]["id"] == POOL
    assert answers["related"]["items"]
    assert answers["incidents"]["total"] > 0
    assert answers["trends"]["service"] == "orders" and "series" in answers["trends"]["mttr"]


async def over_http(url: str, headers: dict[str, str]) -> dict[str, Any]:
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        return await session_calls(client)


def test_streamable_http_behind_the_api_authentication(tmp_path: Path) -> None:
    extra = {"PML_AUTH": "proxy", "PML_TRUSTED_PROXIES": "127.0.0.1/32"}
    with serve(tmp_path / "data", extra=extra) as base:
        outsider = asyncio.run(over_http(f"{base}/mcp", {}))
        check_outsider(outsider)
        insider = asyncio.run(over_http(f"{base}/mcp", INSIDER))
        assert SECRET in insider["search"]
        assert insider["secret"]["id"] == SECRET
        bad = httpx.post(
            f"{base}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": "Bearer pml_not-a-token", "Accept": "application/json"},
        )
        assert bad.status_code == 401
        cross_site = httpx.post(
            f"{base}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Origin": "https://evil.example", "Accept": "application/json"},
        )
        assert cross_site.status_code == 403


async def over_stdio(data: Path, groups: list[str]) -> dict[str, Any]:
    env = {
        **os.environ,
        "PML_LIBRARY": str(SAMPLE_LIBRARY),
        "PML_DATA_DIR": str(data),
        "PML_EMBEDDING_MODEL": "hash",
    }
    env.pop("PML_DATABASE_URL", None)
    args = ["-m", "api.cli", "mcp", *[f"--group={group}" for group in groups]]
    server = StdioServerParameters(command=sys.executable, args=args, env=env, cwd=ROOT)
    async with Client(server) as client:
        return await session_calls(client)


def test_stdio_outsider_and_audience(tmp_path: Path) -> None:
    check_outsider(asyncio.run(over_stdio(tmp_path / "data", [])))
    insider = asyncio.run(over_stdio(tmp_path / "data", ["security"]))
    assert SECRET in insider["search"]


@pytest.mark.parametrize("alert", ["", "   "])
def test_an_empty_alert_is_a_tool_error_not_a_crash(tmp_path: Path, alert: str) -> None:
    async def ask() -> Any:
        env = {**os.environ, "PML_LIBRARY": str(SAMPLE_LIBRARY), "PML_DATA_DIR": str(tmp_path)}
        env["PML_EMBEDDING_MODEL"] = "hash"
        env.pop("PML_DATABASE_URL", None)
        server = StdioServerParameters(
            command=sys.executable, args=["-m", "api.cli", "mcp"], env=env, cwd=ROOT
        )
        async with Client(server) as client:
            return await client.call_tool("seen_before_alert", {"alert_text": alert})

    result = asyncio.run(ask())
    assert result.is_error and "empty" in result.content[0].text


def test_a_get_of_the_mcp_endpoint_is_refused_at_once(tmp_path: Path) -> None:
    """Stateless: no stream to open, so GET answers 405 rather than hanging open."""
    with serve(tmp_path / "data") as base:
        reply = httpx.get(f"{base}/mcp", headers={"Accept": "text/event-stream"}, timeout=30)
    assert reply.status_code == 405 and "POST" in reply.headers["allow"]
