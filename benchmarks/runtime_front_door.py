"""What the offline runtime's front door costs per AWS call, against moto called directly in the same run.

    python -m benchmarks.runtime_front_door [--calls N] [--quick]

Prints milliseconds per call for small JSON calls (DynamoDB GetItem), small and 1 MiB S3 objects, and a
synchronous Lambda invoke of a warm worker, each as a ratio to the direct-to-moto baseline where one exists.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from offline.runtime import OfflineRuntime

TINY_PROGRAM = Path(__file__).resolve().parent.parent / "tests" / "offline" / "programs" / "tiny"


def _per_call_ms(fn, calls: int) -> float:
    fn()  # warm: connection pool, worker process
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    args = parser.parse_args(argv)
    calls = 50 if args.quick else args.calls
    with OfflineRuntime(program_dir=TINY_PROGRAM) as runtime:
        deployment = runtime.deploy("test")
        table = deployment.outputs["table"]
        bucket = deployment.outputs["image_bucket"]
        direct = {s: runtime._direct_client(s, runtime._admin) for s in ("dynamodb", "s3")}
        door = {s: runtime.client(s) for s in ("dynamodb", "s3", "lambda")}
        small, large = b"x" * 1024, b"y" * (1024 * 1024)
        door["s3"].put_object(Bucket=bucket, Key="small", Body=small)
        door["s3"].put_object(Bucket=bucket, Key="large", Body=large)
        rows = []
        for label, make in (
            (
                "DynamoDB GetItem",
                lambda c: lambda: c["dynamodb"].get_item(TableName=table, Key={"pk": {"S": "k"}}),
            ),
            (
                "S3 GetObject 1 KiB",
                lambda c: lambda: c["s3"].get_object(Bucket=bucket, Key="small")["Body"].read(),
            ),
            (
                "S3 GetObject 1 MiB",
                lambda c: lambda: c["s3"].get_object(Bucket=bucket, Key="large")["Body"].read(),
            ),
            (
                "S3 PutObject 1 MiB",
                lambda c: lambda: c["s3"].put_object(Bucket=bucket, Key="put", Body=large),
            ),
        ):
            baseline = _per_call_ms(make(direct), calls)
            through = _per_call_ms(make(door), calls)
            rows.append((label, baseline, through))
        invoke = _per_call_ms(
            lambda: (
                door["lambda"]
                .invoke(
                    FunctionName=deployment.outputs["function_name"], Payload=json.dumps({"action": "echo"})
                )["Payload"]
                .read()
            ),
            calls,
        )
    print(f"offline front door, {calls} calls each (ms per call)")
    print(f"{'call':<22}{'moto direct':>12}{'front door':>12}{'ratio':>8}")
    for label, baseline, through in rows:
        print(f"{label:<22}{baseline:>12.2f}{through:>12.2f}{through / baseline:>8.2f}")
    print(f"{'Lambda Invoke (warm)':<22}{'-':>12}{invoke:>12.2f}{'-':>8}")


if __name__ == "__main__":
    main()
