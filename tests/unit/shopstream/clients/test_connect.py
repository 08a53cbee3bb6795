from __future__ import annotations

import http.server
import threading

import pytest

from shopstream.clients.connect import Applied, ConnectClient, diff
from shopstream.errors import ConnectError
from shopstream.settings import Settings


def test_diff() -> None:
    assert diff({"a": "1", "b": "2"}, {"a": "1", "b": "2"}) == {}
    assert diff({"a": "1", "b": "3"}, {"a": "1", "b": "2", "c": "x"}) == {"b": ("2", "3"), "c": ("x", None)}
    assert diff({"a": "1"}, None) == {"a": (None, "1")}


def test_applied_says_what_changed() -> None:
    assert Applied(created=True, changes={"a": (None, "1")}, tasks=1).verb == "created"
    assert (
        Applied(created=False, changes={"a": ("0", "1"), "b": (None, "2")}, tasks=3).verb
        == "updated (2 keys)"
    )
    assert Applied(created=False, changes={"a": ("0", "1")}, tasks=3).verb == "updated (1 key)"
    assert Applied(created=False, changes={}, tasks=3).verb == "unchanged"


def test_a_request_that_reaches_no_worker_goes_to_the_next_url_which_is_asked_first_from_then_on() -> None:
    answers: list[str] = []

    class Worker(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answers.append(self.path)
            body = b'{"version": "4.3.1"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Worker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        live = f"http://127.0.0.1:{server.server_port}"
        urls = f"http://127.0.0.1:1,{live}"  # nothing listens on port 1
        client = ConnectClient(Settings().replace(connect_url=urls, connect_password="").connect, timeout_s=3)
        assert client.json("GET", "/") == {"version": "4.3.1"}
        assert client.url == live and answers == ["/"]
    finally:
        server.shutdown()
    # none answers: one error naming every URL and why
    dead = Settings().replace(connect_url="http://127.0.0.1:1,http://127.0.0.1:2", connect_password="")
    with pytest.raises(ConnectError) as raised:
        ConnectClient(dead.connect, timeout_s=3).json("GET", "/")
    assert raised.value.message == (
        "Kafka Connect unreachable at http://127.0.0.1:1 (connection refused); "
        "http://127.0.0.1:2 (connection refused)"
    )
