"""`benchmarks.soak` on a tiny run: the dev stack, IAM enforced, a few faults of each family; its checks pass
on the state the run leaves and fail once a second face / a face of a deleted object is planted in it."""

from __future__ import annotations

import pytest

from benchmarks.soak import SoakPlan, report, run
from benchmarks.soak_checks import NO_DELETED_FACE, NOT_TWICE, run_checks
from offline.deployment.program import REPO_ROOT
from offline.gateways.limits import Fault

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

IMAGES = 20
# Faults the pipeline must survive without a killed worker's lease to wait out (tests/e2e covers that one):
# gateway throttling and an outage, one qualifier message sent twice, the inventory delivered again, a delete
# racing its import (right after the face is registered) and a delete later on.
PLAN = SoakPlan(
    gateway_faults=[
        Fault("throttle", after_requests=2, requests=3),
        Fault("outage", after_requests=8, requests=3),
    ],
    duplicate_messages={3},
    redeliver_inventory_at=[5],
    race_deletes={7},
    deletes_at={12: 15},
)
FAMILIES = (
    "gateway throttle",
    "gateway outage",
    "message sent twice",
    "inventory delivered again",
    "delete racing the import",
    "delete at a random moment",
)
# An answer lost after the gateway registered (timeout_after_success) is recovered: Rekognition by
# SearchFacesByImage; the HTTP API answers the retry with 409, from which the indexer records no ImageId.
LOST_ANSWER = SoakPlan(gateway_faults=[Fault("timeout_after_success", after_requests=4, requests=1)])


def _run(gateway: str, plan: SoakPlan):
    if not (REPO_ROOT / "__main__.py").exists():
        pytest.skip("the Pulumi program is not there yet")
    result = run(IMAGES, seed=0, gateway=gateway, rate=None, timeout_s=400, plan=plan)
    return result, report(result)


@pytest.mark.parametrize("gateway", ["rekognition", "http"])
def test_a_tiny_soak_survives_its_faults_and_its_checks_catch_planted_ones(gateway):
    result, output = _run(gateway, PLAN)
    assert result.passed, output
    # Every planned fault was injected (counted where it happened), and survived.
    for kind in FAMILIES:
        assert result.injected[kind] >= 1 and result.survived[kind] == result.injected[kind], output
    state = result.state
    assert state is not None
    assert sum(obj.deleted for obj in state.objects.values()) == 2, output
    assert result.indexed == IMAGES - 2, output

    # The same end state with a second face for an indexed image, then with a deleted image's face back.
    indexed_key = next(k for k, obj in state.objects.items() if not obj.deleted)
    fingerprint = next(iter(state.objects[indexed_key].fingerprints))
    state.registry.add("user-again", fingerprint)
    failed = {c.name for c in run_checks(state) if not c.passed}
    assert failed == {NOT_TWICE}
    deleted = next(obj for obj in state.objects.values() if obj.deleted)
    state.registry.add(next(iter(deleted.user_ids)), next(iter(deleted.fingerprints)))
    failed = {c.name for c in run_checks(state) if not c.passed}
    assert NO_DELETED_FACE in failed


def test_a_lost_answer_after_registering_is_recovered_rekognition():
    result, output = _run("rekognition", LOST_ANSWER)
    assert result.injected["gateway timeout_after_success"] == 1, output
    assert result.passed, output


def test_a_lost_answer_after_registering_is_recovered_http():
    result, output = _run("http", LOST_ANSWER)
    assert result.injected["gateway timeout_after_success"] == 1, output
    assert result.passed, output
