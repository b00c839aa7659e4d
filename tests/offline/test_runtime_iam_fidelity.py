"""Where moto authorizes differently from IAM, the runtime aligns it (DynamoDB resources, SQS batch calls)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.offline.conftest import make_runtime


def test_dynamodb_and_sqs_batch_calls_are_authorized_like_iam():
    """moto names no DynamoDB resource and asks SQS batch calls for actions IAM does not have: both fixed."""
    with make_runtime() as runtime:
        runtime.deploy("test")
        runtime.enforce_iam()
        outputs = runtime.deployment.outputs
        echo_role = runtime.deployment.functions[outputs["function_name"]].role_arn
        dynamodb = runtime.role_client("dynamodb", echo_role, max_attempts=1)
        dynamodb.put_item(TableName=outputs["table"], Item={"pk": {"S": "allowed"}, "body": {"S": "x"}})
        runtime.client("dynamodb").create_table(
            TableName="someone-elses",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        with pytest.raises(ClientError) as error:
            dynamodb.put_item(TableName="someone-elses", Item={"pk": {"S": "denied"}})
        assert "dynamodb:PutItem" in error.value.response["Error"]["Message"]
        assert "table/someone-elses" in error.value.response["Error"]["Message"]
        with pytest.raises(ClientError):
            dynamodb.get_item(
                TableName=outputs["table"], Key={"pk": {"S": "allowed"}}
            )  # only PutItem granted
        # sqs:DeleteMessage covers DeleteMessageBatch, as in IAM.
        runtime.client("sqs").send_message(QueueUrl=outputs["failures_url"], MessageBody="x")
        sqs_admin = runtime.client("sqs")
        handle = sqs_admin.receive_message(QueueUrl=outputs["failures_url"], WaitTimeSeconds=1)["Messages"][0]
        queue_url = outputs["queue_url"]
        for poller in runtime.pollers:  # the mapping would consume it; this test deletes it itself
            poller.stop()
        sqs_admin.send_message(QueueUrl=queue_url, MessageBody="ok-batch-delete")
        sqs = runtime.role_client("sqs", echo_role, max_attempts=1)
        message = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"][0]
        result = sqs.delete_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": "1", "ReceiptHandle": message["ReceiptHandle"]}]
        )
        assert [s["Id"] for s in result["Successful"]] == ["1"]
        assert handle["Body"] == "x"
