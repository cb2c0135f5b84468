"""A static stand-in API on loopback: nginx serving fixed JSON for each SDK's call-detail path.

A Python server would measure itself; nginx answers in microseconds and is never the bottleneck.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from calleague_async.testing import DOC_CALL

CALL_ID = "cl_8f2a"

# One call, as each API documents its call detail (each body valid for that SDK's model).
OURS: dict[str, Any] = dict(DOC_CALL)
RETELL: dict[str, Any] = {
    "call_id": CALL_ID,
    "agent_id": "ag_123",
    "agent_version": 1,
    "call_status": "ended",
    "call_type": "phone_call",
    "direction": "outbound",
    "from_number": "+14155550100",
    "to_number": "+903121234567",
    "metadata": {"orderId": "A-1042"},
    "start_timestamp": 1767268800000,
    "end_timestamp": 1767268884000,
    "duration_ms": 84000,
    "disconnection_reason": "agent_hangup",
}
VAPI: dict[str, Any] = {
    "id": CALL_ID,
    "orgId": "org_1",
    "type": "outboundPhoneCall",
    "status": "ended",
    "endedReason": "customer-ended-call",
    "assistantId": "ag_123",
    "customer": {"number": "+903121234567"},
    "metadata": {"orderId": "A-1042"},
    "createdAt": "2026-01-01T12:00:00.000Z",
    "updatedAt": "2026-01-01T12:01:24.000Z",
    "startedAt": "2026-01-01T12:00:00.000Z",
    "endedAt": "2026-01-01T12:01:24.000Z",
}


def call_page(n: int = 100) -> dict[str, Any]:
    """A list page of ``n`` calls in our API's shape."""
    return {
        "total": 100_000,
        "list": [{**OURS, "callId": f"cl_{i:06d}", "durationSec": i % 600} for i in range(n)],
    }


LISTING_PAGES = 20
"""Pages of 100 calls in the listing nginx serves at ``/api/core/voice/call/list?page=N``."""


def listing_page(page: int) -> dict[str, Any]:
    """Page ``page`` of that listing: 100 calls with ids of their own, and its total."""
    first = (page - 1) * 100
    return {
        "total": LISTING_PAGES * 100,
        "list": [
            {**OURS, "callId": f"cl_{first + i:06d}", "durationSec": (first + i) % 600}
            for i in range(100)
        ],
    }


_CONF = """
worker_processes 1;
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log crit;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    default_type application/json;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        root {root}/www;
        location = /api/core/voice/call/list {{ try_files /pages/p$arg_page.json /list.json =404; }}
        location ^~ /api/core/voice/call/ {{ try_files /ours.json =404; }}
        location ^~ /v2/get-call/ {{ try_files /retell.json =404; }}
        location ^~ /call/ {{ try_files /vapi.json =404; }}
    }}
}}
"""


@contextlib.contextmanager
def nginx() -> Iterator[str]:
    """Run nginx on a free loopback port; yield its base URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        raise RuntimeError("nginx is not installed: apt-get install nginx-light")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "www").mkdir()
        for name, body in (("ours", OURS), ("retell", RETELL), ("vapi", VAPI)):
            (root / "www" / f"{name}.json").write_text(json.dumps(body))
        (root / "www" / "list.json").write_text(json.dumps(call_page()))
        # A listing of LISTING_PAGES distinct pages of 100 (?page=N), for the bulk benchmark.
        (root / "www" / "pages").mkdir()
        for page in range(1, LISTING_PAGES + 1):
            (root / "www" / "pages" / f"p{page}.json").write_text(json.dumps(listing_page(page)))
        (root / "www" / "pages").chmod(0o755)
        root.chmod(0o755)
        (root / "www").chmod(0o755)
        conf = root / "nginx.conf"
        conf.write_text(_CONF.format(root=root, port=port))
        proc = subprocess.Popen(
            [binary, "-p", str(root), "-c", str(conf)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"nginx did not start: {(root / 'error.log').read_text()}")
                time.sleep(0.05)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
