"""The mspclaw-agent command line: enrol against a real HTTP endpoint, status, run guards."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from mspclaw_agent.cli import main


class EnrolServer(ThreadingHTTPServer):
    requests: list[dict[str, Any]]


class Handler(BaseHTTPRequestHandler):
    server: EnrolServer

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "body": body})
        if body["token"] != "good-token":  # noqa: S105 - test token
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b'{"error": "unknown enrolment token"}')
            return
        payload = json.dumps(
            {"device_id": "dev-1", "device_credential": "cred-xyz", "gateway_url": "/gateway/ws"}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def enrol_server() -> Iterator[EnrolServer]:
    server = EnrolServer(("127.0.0.1", 0), Handler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(server: EnrolServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def test_enrol_then_status(enrol_server: EnrolServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state_dir = str(tmp_path / "state")
    assert (
        main(
            [
                "--state-dir",
                state_dir,
                "enroll",
                "--server",
                url(enrol_server),
                "--token",
                "good-token",
            ]
        )
        == 0
    )
    sent = enrol_server.requests[0]
    assert sent["path"] == "/api/v1/agents/enroll"
    assert set(sent["body"]) == {
        "token",
        "hostname",
        "os",
        "os_version",
        "serial",
        "logged_in_user",
        "agent_version",
    }
    capsys.readouterr()
    assert main(["--state-dir", state_dir, "status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["device_id"] == "dev-1"
    assert status["gateway_url"] == "/gateway/ws"
    assert status["undelivered_results"] == 0
    assert "cred-xyz" not in json.dumps(status)
    # The enrolment token is never stored.
    assert "good-token" not in (tmp_path / "state" / "state.json").read_text()


def test_refused_enrolment_explains_and_stores_nothing(
    enrol_server: EnrolServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--state-dir", str(tmp_path), "enroll", "--server", url(enrol_server), "--token", "stale"])
    assert code == 1
    assert "HTTP 401" in capsys.readouterr().err
    assert not (tmp_path / "state.json").exists()


def test_token_starting_with_a_dash_is_accepted(
    enrol_server: EnrolServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--state-dir", str(tmp_path), "enroll", "--server", url(enrol_server), "--token", "-Xy9"])
    assert code == 1  # reached the server, which refused the unknown token
    assert enrol_server.requests[0]["body"]["token"] == "-Xy9"  # noqa: S105 - test token


def test_unreachable_or_bad_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--state-dir", str(tmp_path), "enroll", "--server", "ftp://x", "--token", "t"]) == 1
    assert "http(s)" in capsys.readouterr().err


def test_run_and_status_need_enrolment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--state-dir", str(tmp_path), "run"]) == 2
    assert main(["--state-dir", str(tmp_path), "status"]) == 2
    assert "mspclaw-agent enroll" in capsys.readouterr().err
