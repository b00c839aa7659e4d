"""The offline runtime: the whole stack on this machine, no AWS account (ARCHITECTURE section 5).

`OfflineRuntime` (offline/runtime.py) is the entry point; its parts are the sub-packages:

- `deployment/`: runs `__main__.py` under Pulumi mocks and creates each recorded resource in the emulator;
- `aws/`: the emulated AWS (moto behind the front door that signs callers in and enforces IAM, event routing,
  SQS event source mappings, S3 Batch Operations, S3 Inventory delivery);
- `lambda_runtime/`: every function as local worker processes (`python -m offline.lambda_runtime.worker`);
- `gateways/`: the face indexes the indexer registers into (emulated Rekognition, a local registration API);
- `demo/`: `python -m offline.demo`, its sample data and its report.
"""
