"""Every S3 Inventory format through the deployed wiring: the stack's configuration says Parquet or ORC, the
offline S3 Inventory delivers that format, inventory_created reads it and the images end indexed.

CSV runs through the same path in test_e2e_happy_path.py; this test stays small (two images) on purpose.
"""

from __future__ import annotations

import pytest
from e2e_support import active_by_key, deliver_inventory, explain, history, put_images

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.mark.parametrize("fmt", ["Parquet", "ORC"])
def test_a_columnar_inventory_is_delivered_read_and_indexed(dev_stack, fmt):
    runtime, faces = dev_stack({"inventoryPipeline": {"format": fmt}})
    keys = ["formats/a b+c %2B é.png", 'formats/quote",comma.png']
    delivery = deliver_inventory(runtime, put_images(runtime, keys))
    assert delivery.fmt == fmt and all(key.endswith(f".{fmt.lower()}") for key in delivery.data_keys)
    runtime.run_until_idle(120)

    [job] = runtime.stats()["jobs"]
    assert (job["status"], job["total"], job["failed"]) == ("Complete", 2, 0), explain(runtime, faces)
    records = history(runtime)
    assert {key: records[key]["status"] for key in keys} == dict.fromkeys(keys, "indexed"), explain(
        runtime, faces
    )
    assert active_by_key(faces) == dict.fromkeys(keys, 1), explain(runtime, faces)
    assert runtime.stats()["access_denied"] == [], explain(runtime, faces)
