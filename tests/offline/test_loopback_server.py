"""The emulators' server prints no traceback for a client that went away, and still does for a real error."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler

import pytest

from offline.loopback_server import LoopbackServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/client-gone":
            raise ConnectionResetError(104, "Connection reset by peer")  # what a killed worker leaves
        raise ValueError("a real server error")

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize(("path", "printed"), [("/client-gone", False), ("/broken", True)])
def test_only_real_errors_print_a_traceback(capfd, path, printed):
    server = LoopbackServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        connection.request("GET", path)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            connection.getresponse()
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    err = capfd.readouterr().err
    assert ("Traceback" in err) is printed
    assert ("a real server error" in err) is printed
