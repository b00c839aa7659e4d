"""components/defaults.py is data: importing it loads no Pulumi (it declares no resource, builds nothing)."""

from __future__ import annotations

import subprocess
import sys

from infra_harness import REPO


def test_secure_defaults_import_without_pulumi():
    probe = (
        "import sys, components.defaults; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
