"""How the emulated Rekognition answers an error: Rekognition's JSON error shape (`__type`, `Message`)."""

from __future__ import annotations

from typing import Any

Answer = tuple[int, dict[str, Any]]


class RekognitionError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status

    def answer(self) -> Answer:
        return self.status, {"__type": self.code, "Message": self.message}
