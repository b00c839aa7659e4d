"""The local registration API answers the indexer's own HTTP client as a real one would."""

from __future__ import annotations

import base64
import http.client
import json
import threading
from urllib.parse import urlsplit

import pytest

from handlers.common.contracts import ObjectRef
from handlers.throttled_indexer.gateway import GatewayBusy, GatewayRejected, RegistrationRequest
from handlers.throttled_indexer.http_gateway import HttpGateway
from offline.demo.sample_data import face_picture, jpeg_bytes, png_bytes, uniform_picture
from offline.gateways.limits import Fault, FaultPlan
from offline.gateways.registration_api import RegistrationApi

pytestmark = pytest.mark.timeout(60)


def _post(url: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _request(image: bytes, user: str = "user-1") -> RegistrationRequest:
    return RegistrationRequest(ObjectRef(bucket="images", key="k.png"), user, {"team": "red"}, image)


@pytest.fixture
def api():
    with RegistrationApi() as running:
        yield running


def test_register_conflict_and_deregister_through_the_indexers_client(api):
    client = HttpGateway(api.url, timeout_seconds=5)
    image = jpeg_bytes(face_picture(1))
    first = client.register(_request(image))
    assert first.image_id and not first.already_registered
    assert client.register(_request(image)).already_registered  # 409: same user, same bytes
    other = client.register(_request(image, user="user-2"))  # same bytes, another user: registered
    assert other.image_id != first.image_id
    client.deregister("user-1", (), first.image_id)
    client.deregister("user-1", (), first.image_id)  # 404 now: counts as done
    assert [r.user_id for r in api.registry.active()] == ["user-2"]
    assert api.responses["/register 201"] == 2 and api.responses["/deregister 404"] == 1


def test_images_without_a_face_or_not_images_are_refused_permanently(api):
    client = HttpGateway(api.url, timeout_seconds=5)
    for image in (png_bytes(uniform_picture()), b"GIF89a not ours"):
        with pytest.raises(GatewayRejected) as refused:
            client.register(_request(image))
        assert "422" in str(refused.value)
    assert api.registry.all() == []


def test_rate_limit_answers_429_with_retry_after():
    now = [0.0]
    with RegistrationApi(rate_per_s=0.5, burst=1, clock=lambda: now[0]) as api:
        client = HttpGateway(api.url, timeout_seconds=5)
        client.register(_request(png_bytes(face_picture(2))))
        with pytest.raises(GatewayBusy) as busy:
            client.register(_request(png_bytes(face_picture(3))))
        assert busy.value.retry_after == 2
        now[0] += 2
        assert client.register(_request(png_bytes(face_picture(3)))).image_id


def test_injected_outage_then_recovery():
    plan = FaultPlan([Fault("outage", after_requests=0, requests=2)])
    with RegistrationApi(faults=plan) as api:
        client = HttpGateway(api.url, timeout_seconds=5)
        for _ in range(2):
            with pytest.raises(GatewayBusy):
                client.register(_request(png_bytes(face_picture(4))))
        assert client.register(_request(png_bytes(face_picture(4)))).image_id
        assert len(api.registry.active()) == 1 and api.responses["/register 500"] == 2


def test_a_timeout_after_success_registers_and_the_retry_gets_409():
    plan = FaultPlan([Fault("timeout_after_success", after_requests=0, requests=1)])
    with RegistrationApi(faults=plan, timeout_delay_s=1.0) as api:
        client = HttpGateway(api.url, timeout_seconds=0.3)
        image = png_bytes(face_picture(5))
        with pytest.raises(GatewayBusy):
            client.register(_request(image))
        assert client.register(_request(image)).already_registered
        assert len(api.registry.all()) == 1 and api.registry.duplicates == []


def test_concurrent_identical_requests_register_once(api):
    body = json.dumps(
        {"UserId": "u", "Properties": {}, "Image": base64.b64encode(png_bytes(face_picture(6))).decode()}
    ).encode()
    statuses = []

    def post() -> None:
        statuses.append(_post(api.url, "/register", body)[0])

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 7 and len(api.registry.all()) == 1


def test_bad_requests_and_api_key():
    with RegistrationApi(api_key="secret") as api:
        assert _post(api.url, "/register", b"{}")[0] == 401
        status, answer = _post(api.url, "/register", b"{}", {"x-api-key": "secret"})
        assert status == 400 and b"UserId" in answer
        assert _post(api.url, "/register", b"[1]", {"x-api-key": "secret"})[0] == 400
        assert _post(api.url, "/elsewhere", b"{}", {"x-api-key": "secret"})[0] == 404
