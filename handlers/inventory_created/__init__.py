"""inventory_created: turn an S3 Inventory report into S3 Batch Operations jobs (ARCHITECTURE section 1)."""
