"""A raw socket.io client over engine.io's HTTP long-polling transport.

The browser would never send a hostile handshake, so the edge tests speak the protocol
themselves: open an engine.io session, send a socket.io CONNECT packet with any `auth`
payload, and read what the server answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx

RECORD_SEPARATOR = "\x1e"


@dataclass
class Handshake:
    accepted: bool
    packet: str  # the server's answer to CONNECT, e.g. '40{"sid":…}' or '44{"message":…}'
    http_status: int


def socketio_connect(
    base_url: str, auth: object, *, headers: dict[str, str] | None = None, path="/ws/socket.io/"
) -> Handshake:
    url = base_url.rstrip("/") + path
    with httpx.Client(timeout=10, headers=headers or {}) as client:
        opened = client.get(url, params={"EIO": "4", "transport": "polling"})
        if opened.status_code != 200:
            return Handshake(False, opened.text, opened.status_code)
        sid = json.loads(opened.text[1:])["sid"]
        params = {"EIO": "4", "transport": "polling", "sid": sid}
        sent = client.post(url, params=params, content="40" + json.dumps(auth))
        sent.raise_for_status()
        answer = client.get(url, params=params)
        packets = answer.text.split(RECORD_SEPARATOR)
        connect_reply = next(p for p in packets if p.startswith(("40", "44")))
        return Handshake(connect_reply.startswith("40"), connect_reply, answer.status_code)
