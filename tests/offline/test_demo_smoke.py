"""`python -m offline.demo` end to end with a small dataset: the real dev stack, IAM enforced, every check."""

from __future__ import annotations

import pytest

from offline.demo.cli import main
from offline.deployment.program import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.mark.parametrize("gateway", ["rekognition", "http"])
def test_the_demo_passes_its_checks(gateway, capsys):
    if not (REPO_ROOT / "__main__.py").exists():
        pytest.skip("the Pulumi program is not there yet")
    status = main(["--images", "12", "--gateway", gateway, "--timeout", "240"])
    output = capsys.readouterr().out
    assert status == 0, output[-4000:]
    assert "DEMO PASSED" in output and "[FAIL]" not in output
    assert "deleted           3" in output
