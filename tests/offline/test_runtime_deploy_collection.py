"""A Rekognition collection is created through the Rekognition emulator the runtime is given."""

from __future__ import annotations

from tests.offline.conftest import make_runtime


class Collections:
    def __init__(self) -> None:
        self.created: list[str] = []

    def handle(self, action, body, caller):
        assert action == "CreateCollection" and caller.kind == "admin"
        self.created.append(body["CollectionId"])
        return 200, {
            "StatusCode": 200,
            "CollectionArn": f"aws:rekognition:x:y:collection/{body['CollectionId']}",
        }


def test_the_collection_goes_through_the_emulator():
    collections = Collections()
    with make_runtime() as runtime:
        runtime.set_rekognition_handler(collections)
        deployment = runtime.deploy("test", config_overrides={"withCollection": True})
        [collection] = deployment.by_type("rekognition/collection:Collection")
        assert collections.created == ["tiny-faces"]
        # The provider's `arn` output is the real ARN (Rekognition's own CollectionArn lacks "arn:").
        assert collection.outputs["arn"] == "arn:aws:rekognition:us-east-1:123456789012:collection/tiny-faces"
        assert [n["type"] for n in deployment.not_created] == ["aws:ec2/vpc:Vpc"]
