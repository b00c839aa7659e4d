"""The emulated AWS account: moto on 127.0.0.1 behind a front door that knows each caller and
enforces IAM, plus what moto lacks (event delivery, SQS event source mappings, S3 Batch Operations,
S3 Inventory reports)."""
