"""The emulators' HTTP server on 127.0.0.1: a ThreadingHTTPServer that stays quiet when a client goes away.

The runtime kills worker processes on purpose (crash faults, the e2e crash tests, the soak); a request cut
off that way ends in ConnectionResetError / BrokenPipeError inside the server thread, which socketserver
prints as a traceback although nothing is wrong on the server's side. Any other error is still printed.
"""

from __future__ import annotations

import sys
from http.server import ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if isinstance(sys.exception(), ConnectionError):  # the client was killed mid-request
            return
        super().handle_error(request, client_address)
