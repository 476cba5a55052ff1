"""The edge's pure rules: ids, origins, handshakes, URL ids, served file types, CSP."""

from __future__ import annotations

import uuid

import pytest

from app.edge.headers import app_csp, file_media_type, script_hashes
from app.edge.ids import is_uuid
from app.edge.middleware import ids_problem
from app.edge.origins import OriginPolicy, normalise_origin
from app.edge.socket_guard import handshake_problem

GOOD = str(uuid.uuid4())


@pytest.mark.parametrize("value", [GOOD, GOOD.upper()])
def test_canonical_uuids_are_ids(value):
    assert is_uuid(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "..",
        "../knowledge",
        "/etc",
        f"{{{GOOD}}}",
        f"urn:uuid:{GOOD}",
        GOOD + "\n",
        GOOD.replace("-", ""),
        f"{GOOD}/..",
        None,
        7,
        ["x"],
    ],
)
def test_anything_else_is_not_an_id(value):
    assert not is_uuid(value)


def test_handshake_rules():
    ok = {"sessionId": GOOD, "clientType": "webapp", "userEnv": "{}", "threadId": None}
    assert handshake_problem(ok) is None
    assert handshake_problem({**ok, "threadId": GOOD}) is None
    assert handshake_problem({**ok, "threadId": ""}) is None  # what the browser sends
    assert handshake_problem(None) == "missing auth payload"
    assert handshake_problem({**ok, "sessionId": "../x"}) == "invalid session id"
    assert handshake_problem({**ok, "threadId": "../x"}) == "invalid thread id"
    assert handshake_problem({**ok, "clientType": "x" * 1000}) == "invalid clientType"
    assert handshake_problem({**ok, "userEnv": {"a": 1}}) == "invalid userEnv"


@pytest.mark.parametrize(
    ("path", "query", "problem"),
    [
        (f"/project/file/{GOOD}", f"session_id={GOOD}".encode(), None),
        ("/project/file", f"session_id={GOOD}".encode(), None),
        ("/project/file", b"session_id=..%2Fknowledge", "invalid session id"),
        ("/project/file", b"session_id=" + GOOD.encode() + b"&session_id=..", "invalid session id"),
        ("/project/file/abc", b"", "invalid file id"),
        (f"/project/thread/{GOOD}", b"", None),
        ("/project/thread/x", b"", "invalid thread id"),
        (f"/project/thread/{GOOD}/element/{GOOD}", b"", None),
        (f"/project/thread/{GOOD}/element/..", b"", "invalid element id"),
        ("/project/share/..", b"", "invalid thread id"),
        ("/project/settings", b"session_id=whatever", None),  # not a file route
    ],
)
def test_ids_in_urls(path, query, problem):
    assert ids_problem(path, query) == problem


def test_origin_policy_is_same_origin_by_default():
    policy = OriginPolicy()
    host = {"host": "127.0.0.1:8000"}
    assert policy.allows(None, host)
    assert policy.allows("http://127.0.0.1:8000", host)
    assert not policy.allows("http://127.0.0.1:8001", host)
    assert not policy.allows("http://evil.example", host)
    assert not policy.allows("null", host)
    # Behind a TLS-terminating proxy the app sees http, the browser says https.
    assert policy.allows("https://assistant.example.com", {"host": "assistant.example.com"})
    assert policy.allows(
        "https://assistant.example.com",
        {"host": "10.0.0.5:8000", "x-forwarded-host": "assistant.example.com"},
    )


def test_extra_origins_are_normalised():
    policy = OriginPolicy(["HTTPS://Portal.Example.com:443/"])
    assert policy.allows("https://portal.example.com", {"host": "app:8000"})
    assert normalise_origin("http://[::1]:80") == "http://[::1]"


@pytest.mark.parametrize(
    ("claimed", "served"),
    [
        ("text/html", "application/octet-stream"),
        ("text/html; charset=utf-8", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
        ("application/pdf", "application/pdf"),
    ],
)
def test_uploads_are_served_only_as_inert_types(claimed, served):
    assert file_media_type(claimed) == served


def test_csp_allows_only_the_pages_own_inline_scripts():
    html = "<script>const global = globalThis;</script><script src='/a.js'></script>"
    hashes = script_hashes(html)
    assert len(hashes) == 1 and hashes[0].startswith("'sha256-")
    csp = app_csp(hashes)
    assert f"script-src 'self' {hashes[0]}" in csp
    assert "img-src 'self' data: blob:" in csp
