"""Events delivered as AWS delivers them: S3 notifications, SNS to Lambda and EventBridge rules (routing), and
SQS event source mappings (sqs_poller)."""
