"""TLS is verified: a server whose certificate the system does not trust is never sent a request."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import pytest
import trustme
from aiohttp import web

import calleague_async as ca


@pytest.fixture
async def untrusted_https() -> AsyncIterator[tuple[str, list[str]]]:
    """An https server on loopback whose certificate comes from a CA nobody trusts."""
    ca_ = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca_.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    seen: list[str] = []

    async def anything(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"callId": "cl_1"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_an_untrusted_certificate_stops_a_dial_before_anything_is_sent(
    untrusted_https: tuple[str, list[str]],
) -> None:
    base_url, seen = untrusted_https
    async with ca.AsyncSession(
        api_key="sk_live_tls_test_key", base_url=base_url, rate_limits=None, max_retries=0
    ) as s:
        with pytest.raises(ca.APIConnectionError, match=r"(?i)certificate") as info:
            await s.calls.start(agent_id="ag_1", to="+905551112233")
        assert info.value.request_sent is False  # the handshake failed: nothing left
        with pytest.raises(ca.APIConnectionError, match=r"(?i)certificate"):
            await s.calls.get("cl_1")
    assert seen == []
    assert "sk_live_tls_test_key" not in str(info.value)
