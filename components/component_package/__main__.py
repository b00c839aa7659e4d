"""The component package's plugin: `python components/component_package` (PulumiPlugin.yaml's `main`).

Pulumi's Python language host runs it with the engine's address as arguments, in the plugin's virtualenv
(this repository's requirements.txt); the hosted components are then constructed for programs in any language.
"""

import sys
import tomllib
from pathlib import Path

# Run as a directory, Python puts only this folder on the path; the components import `components` and
# `handlers` from the repository root.
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pulumi.provider.experimental import component_provider_host  # noqa: E402

from components.component_package.hosted import HOSTED, PACKAGE_NAME  # noqa: E402

# The package version is the project's (pyproject.toml), so `pulumi package add ...@<tag>` pins both.
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]

if __name__ == "__main__":
    component_provider_host(HOSTED, name=PACKAGE_NAME, version=VERSION)
