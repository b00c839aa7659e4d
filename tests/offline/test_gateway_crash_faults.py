"""The crash faults of offline.gateways.limits.FaultPlan in both emulated gateways: `crash_before` kills the
caller before anything is registered, `crash_after` once the registration exists; the log names subjects."""

from __future__ import annotations

import base64
import http.client
import json
import re

import pytest

from offline.gateways.limits import Fault, FaultPlan, Registry
from offline.gateways.registration_api import RegistrationApi
from offline.gateways.rekognition import EmulatedRekognition
from tests.e2e.e2e_support import png


class _Killer:
    """Stands in for FunctionPool.kill_busy_workers: counts the kills and what the registry held then."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.active_at_kill: list[int] = []

    def __call__(self) -> int:
        self.active_at_kill.append(len(self.registry.active()))
        return 2


def _rekognition(kind: str) -> tuple[EmulatedRekognition, _Killer]:
    registry = Registry()
    killer = _Killer(registry)
    faults = FaultPlan([Fault(kind, after_requests=0, requests=1)], crash=killer)
    faces = EmulatedRekognition(None, faults=faults, registry=registry)
    assert faces.handle("CreateCollection", {"CollectionId": "c"}, None)[0] == 200
    return faces, killer


def _index(faces: EmulatedRekognition) -> tuple[int, dict]:
    image = {"Bytes": base64.b64encode(png(1)).decode()}
    return faces.handle("IndexFaces", {"CollectionId": "c", "Image": image, "ExternalImageId": "u1"}, None)


def test_crash_before_kills_the_caller_and_registers_nothing():
    faces, killer = _rekognition("crash_before")
    status, answer = _index(faces)
    assert status == 500 and "caller died" in answer["Message"]
    assert killer.active_at_kill == [0] and faces.registry.all() == []
    assert faces.faults.crashed_workers == 2 and faces.faults.injected["crash_before"] == 1
    assert _index(faces)[0] == 200  # the window is over


def test_crash_after_registers_then_kills_the_caller():
    faces, killer = _rekognition("crash_after")
    status, answer = _index(faces)
    assert status == 200 and answer["FaceRecords"]
    assert killer.active_at_kill == [1]
    assert faces.faults.log == [("crash_after", None)]  # Image.Bytes: no S3 object to name


def test_a_crash_fault_without_a_callback_is_refused():
    faces = EmulatedRekognition(None, faults=FaultPlan([Fault("crash_after", requests=1)]))
    faces.handle("CreateCollection", {"CollectionId": "c"}, None)
    with pytest.raises(RuntimeError, match=re.escape("needs FaultPlan(crash=...)")):
        _index(faces)


@pytest.mark.parametrize(
    ("kind", "status", "registered"), [("crash_before", 500, 0), ("crash_after", 201, 1)]
)
def test_http_api_crash_faults(kind, status, registered):
    registry = Registry()
    killer = _Killer(registry)
    faults = FaultPlan([Fault(kind, requests=1)], crash=killer)
    with RegistrationApi(faults=faults, registry=registry) as api:
        body = json.dumps({"UserId": "user-1", "Image": base64.b64encode(png(1)).decode()}).encode()
        host, port = api.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("POST", "/register", body, {"Content-Type": "application/json"})
        answered = connection.getresponse().status
        connection.close()
    assert answered == status
    assert killer.active_at_kill == [registered] and len(registry.active()) == registered
    assert faults.log == [(kind, "user-1")]
