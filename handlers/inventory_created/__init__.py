"""inventory_created: turns an S3 Inventory delivery into S3 Batch Operations jobs."""
