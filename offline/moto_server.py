"""The AWS emulator: a moto server in this process, bound to 127.0.0.1 on a free port.

It runs in-process on purpose: the event delivery (offline/events.py) hooks moto's S3 and SNS backends.
"""

from __future__ import annotations

import logging
import urllib.request

from moto.server import ThreadedMotoServer

# moto's default account; every ARN the offline runtime builds uses it.
ACCOUNT_ID = "123456789012"


class MotoServer:
    """Start/stop a ThreadedMotoServer and switch IAM enforcement on."""

    def __init__(self) -> None:
        self._server: ThreadedMotoServer | None = None
        self.endpoint: str | None = None

    def start(self) -> str:
        if self._server is not None:
            raise RuntimeError("moto server already started")
        # werkzeug logs every request at INFO: far too loud for a demo.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self._post("/moto-api/reset", b"")
        return self.endpoint

    def enable_iam(self) -> None:
        """From now on moto authenticates and authorizes every request (unknown keys and denials fail)."""
        self._post("/moto-api/reset-auth", b"0")

    def disable_iam(self) -> None:
        self._post("/moto-api/reset-auth", b"inf")

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.disable_iam()
        finally:
            self._server.stop()
            self._server = None
            self.endpoint = None

    def _post(self, path: str, body: bytes) -> None:
        if self.endpoint is None:
            raise RuntimeError("moto server not started")
        # text/plain: a form content type would make Flask swallow the body moto reads.
        request = urllib.request.Request(  # noqa: S310 (our own http://127.0.0.1 endpoint)
            self.endpoint + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
