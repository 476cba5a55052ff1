"""The edge, attacked with a raw HTTP and socket.io client against the real app."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.conftest import AppServer
from tests.support.raw_socketio import socketio_connect

pytestmark = pytest.mark.e2e


def _auth(session_id: object, **extra: object) -> dict:
    return {"sessionId": session_id, "clientType": "webapp", "userEnv": "{}", **extra}


@pytest.mark.parametrize(
    "session_id",
    ["../knowledge", "/tmp/owned", "..", "", 42, f"{uuid.uuid4()}/../../knowledge"],
)
def test_a_session_id_that_is_not_a_uuid_is_refused(app: AppServer, session_id):
    handshake = socketio_connect(app.url, _auth(session_id))
    assert not handshake.accepted, handshake.packet
    assert "invalid session id" in handshake.packet


def test_a_hostile_thread_id_is_refused(app: AppServer):
    handshake = socketio_connect(app.url, _auth(str(uuid.uuid4()), threadId="../../etc"))
    assert not handshake.accepted
    assert "invalid thread id" in handshake.packet


def _logged_in(app: AppServer) -> dict[str, str]:
    """AUTH_MODE=local still logs in (a header-auth callback that returns the local user)."""
    response = httpx.post(f"{app.url}/auth/header")
    response.raise_for_status()
    cookies = "; ".join(f"{k}={v}" for k, v in response.cookies.items())
    return {"Cookie": cookies}


def test_a_uuid_session_connects(app: AppServer):
    handshake = socketio_connect(app.url, _auth(str(uuid.uuid4())), headers=_logged_in(app))
    assert handshake.accepted, handshake.packet


def test_a_socket_without_a_login_is_refused(app: AppServer):
    assert not socketio_connect(app.url, _auth(str(uuid.uuid4()))).accepted


def test_no_file_can_be_planted_through_a_path_session_id(app: AppServer):
    """The whole attack: connect as `../knowledge`, upload into it, see it in knowledge."""
    knowledge_before = sorted(p.name for p in app.knowledge_dir.iterdir())
    socketio_connect(app.url, _auth("../knowledge"))
    planted = httpx.post(
        f"{app.url}/project/file",
        params={"session_id": "../knowledge"},
        files={"file": ("planted.txt", b"the CEO's password is hunter2", "text/plain")},
    )
    assert planted.status_code == 400
    assert planted.json()["detail"] == "invalid session id"
    assert sorted(p.name for p in app.knowledge_dir.iterdir()) == knowledge_before


@pytest.mark.parametrize(
    "path",
    [
        "/project/file/not-a-file-id?session_id=00000000-0000-0000-0000-000000000000",
        "/project/file/00000000-0000-0000-0000-000000000000?session_id=..%2Fknowledge",
        "/project/thread/not-a-thread",
        "/project/thread/00000000-0000-0000-0000-000000000000/element/..",
        "/project/share/x",
    ],
)
def test_ids_in_urls_must_be_uuids(app: AppServer, path: str):
    status = httpx.get(app.url + path).status_code
    if path.endswith("/element/.."):
        # The client normalises `/element/..` away, leaving a well-formed thread URL, which
        # an anonymous caller may not read.
        assert status in (400, 401)
    else:
        assert status == 400


def test_a_foreign_origin_is_refused_and_never_echoed(app: AppServer):
    evil = {"Origin": "http://evil.example"}
    r = httpx.get(f"{app.url}/project/settings", headers=evil)
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    preflight = httpx.options(
        f"{app.url}/project/file",
        headers={**evil, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    handshake = socketio_connect(app.url, _auth(str(uuid.uuid4())), headers=evil)
    assert not handshake.accepted and handshake.http_status == 403


def test_the_apps_own_origin_is_allowed(app: AppServer):
    own = {"Origin": app.url, **_logged_in(app)}
    assert httpx.get(f"{app.url}/project/translations", headers=own).status_code != 403
    assert socketio_connect(app.url, _auth(str(uuid.uuid4())), headers=own).accepted


def test_the_page_carries_a_strict_content_security_policy(app: AppServer):
    r = httpx.get(app.url + "/")
    csp = r.headers["content-security-policy"]
    assert "img-src 'self' data: blob:" in csp
    assert "script-src 'self' 'sha256-" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "fonts.googleapis.com/css2" not in r.text  # no third-party requests on load


def test_an_uploaded_html_file_is_downloaded_never_rendered(app: AppServer):
    session_id = str(uuid.uuid4())
    login = _logged_in(app)
    assert socketio_connect(app.url, _auth(session_id), headers=login).accepted
    page = b"<html><body><script>fetch('/project/settings')</script>hi</body></html>"
    up = httpx.post(
        f"{app.url}/project/file",
        params={"session_id": session_id},
        files={"file": ("page.html", page, "text/html")},
        headers=login,
    )
    assert up.status_code == 200, up.text
    r = httpx.get(
        f"{app.url}/project/file/{up.json()['id']}",
        params={"session_id": session_id},
        headers=login,
    )
    assert r.status_code == 200
    assert r.content == page
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"] == "attachment"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"] == "default-src 'none'; sandbox"
