"""create_or_use: the one create-or-use-existing choice (image bucket, collection, alarm topic)."""

from __future__ import annotations

import pulumi
import pytest
from infra_harness import run_pulumi

from components.existing import create_or_use


def test_an_existing_resource_is_used_and_nothing_is_created():
    made = []
    result = create_or_use("photos", use=lambda name: f"used {name}", create=lambda: made.append(1))
    assert result == "used photos" and not made


@pytest.mark.parametrize("nothing", [None, ()])
def test_without_an_existing_one_it_is_created(nothing):
    assert (
        create_or_use(nothing, use=lambda given: pytest.fail("used"), create=lambda: "created") == "created"
    )


def test_the_choice_is_never_taken_from_an_output():
    def program():
        with pytest.raises(TypeError, match="plain config value, not an Output"):
            create_or_use(pulumi.Output.from_input("photos"), use=str, create=str)

    run_pulumi(program, stack="unit")
