"""Stream an inventory data file (CSV.gz, Parquet, ORC) as Arrow record batches with canonical columns.

Canonical columns (present when the inventory has them): bucket, key, version_id, is_latest,
is_delete_marker, size, last_modified (int64 milliseconds since the epoch, UTC). CSV keys stay URL-encoded
as the inventory wrote them (`key_is_url_encoded`); Parquet/ORC keys are the raw object keys.

Memory stays flat: CSV is decompressed and parsed block by block straight from the S3 response stream;
Parquet/ORC need random access, so they are first copied to local disk (not memory) and read one row
group / stripe at a time. Every data file's MD5 is computed from the bytes read and checked against the
manifest before the caller commits anything.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from botocore.exceptions import ClientError

from handlers.inventory_created.errors import DataFileError, ManifestError
from handlers.inventory_created.manifest import DataFile, InventoryManifest

# The CSV column order S3 documents when a manifest has no fileSchema (and the data file no header row).
DEFAULT_CSV_FIELDS = (
    "Bucket",
    "Key",
    "VersionId",
    "IsLatest",
    "IsDeleteMarker",
    "Size",
    "LastModifiedDate",
    "ETag",
    "StorageClass",
)
# Inventory field name (CSV style, or Parquet/ORC snake case, normalised) -> canonical column and type.
_CANONICAL: dict[str, tuple[str, pa.DataType]] = {
    "bucket": ("bucket", pa.string()),
    "key": ("key", pa.string()),
    "versionid": ("version_id", pa.string()),
    "islatest": ("is_latest", pa.bool_()),
    "isdeletemarker": ("is_delete_marker", pa.bool_()),
    "size": ("size", pa.int64()),
    "lastmodifieddate": ("last_modified", pa.timestamp("ms", tz="UTC")),
}
# Big enough that Arrow's per-block overhead vanishes, small enough to keep peak memory low (benchmarked).
CSV_BLOCK_BYTES = 1 << 20
COLUMNAR_BATCH_ROWS = 64 * 1024
_COPY_CHUNK = 1 << 20
_HEADER_PROBE_BYTES = 64 * 1024
# What Arrow raises on a corrupt data file: any ArrowException (ORC's decompression errors are the base
# class itself, "Unknown error"), OSError, and UnicodeDecodeError from a Parquet footer's undecodable names
# (both found by fuzzing).
_CORRUPT_FILE_ERRORS = (pa.ArrowException, OSError, UnicodeDecodeError)


def configure_arrow_memory() -> str:
    """Use Arrow's jemalloc pool unless ARROW_DEFAULT_MEMORY_POOL chooses one; returns the pool in use.

    Same speed as the wheels' default (mimalloc) here, but it hands freed memory back sooner: peak RSS
    per 1M rows was 91 vs 111 MB (CSV), 130 vs 194 MB (Parquet), 169 vs 221 MB (ORC) in one benchmark run.
    """
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        # A pyarrow build without jemalloc keeps its default pool.
        with contextlib.suppress(NotImplementedError):
            pa.set_memory_pool(pa.jemalloc_memory_pool())
    return pa.default_memory_pool().backend_name


def _normalise(name: str) -> str:
    return name.strip().replace("_", "").lower()


class _HashingReader(io.RawIOBase):
    """A read-only stream over an S3 response body that computes the MD5 and size of what passes."""

    def __init__(self, body: Any) -> None:
        self._body = body
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._body.read(None if size is None or size < 0 else size)
        self.md5.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read (and hash) whatever the parser left unread, so the checksum covers the whole object."""
        while self.read(_COPY_CHUNK):
            pass

    def release(self) -> None:
        """Close the S3 response (Arrow's `close()` at the end of parsing leaves it open for `drain`)."""
        self._body.close()


class DataFileReader:
    """Reads one data file. Use as a context manager; call `verify()` after consuming `batches()`."""

    def __init__(
        self,
        s3: Any,
        manifest: InventoryManifest,
        data_file: DataFile,
        *,
        need_last_modified: bool = False,
        tmp_dir: str | None = None,
    ) -> None:
        self._s3 = s3
        self._manifest = manifest
        self._file = data_file
        self._need_last_modified = need_last_modified
        self._tmp_dir = tmp_dir
        self.bucket = manifest.destination_bucket
        self.where = f"s3://{self.bucket}/{data_file.key}"
        self.key_is_url_encoded = manifest.file_format == "CSV"
        self.columns: list[str] = []
        """Canonical columns this file provides (known once `batches()` has started)."""
        self.rows = 0
        self._hashing: _HashingReader | None = None
        self._tmp_path: str | None = None
        self._md5: str | None = None
        self._size = 0

    def __enter__(self) -> DataFileReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._hashing is not None:
            self._hashing.release()
        if self._tmp_path is not None:
            os.unlink(self._tmp_path)
            self._tmp_path = None

    # ------------------------------------------------------------------------------------------ reading
    def batches(self) -> Iterator[pa.RecordBatch]:
        fmt = self._manifest.file_format
        if fmt == "CSV":
            yield from self._csv_batches()
        else:
            yield from self._columnar_batches(fmt)

    def _get(self, **extra: Any) -> Any:
        try:
            return self._s3.get_object(Bucket=self.bucket, Key=self._file.key, **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise DataFileError(f"data file {self.where} listed in the manifest does not exist") from None
            raise

    def _csv_field_names(self) -> tuple[list[str], bool, str]:
        """(field names, whether the data file starts with a header row, where the names come from)."""
        schema = self._manifest.file_schema
        if schema:
            names = [n.strip() for n in schema.split(",")]
            if any(not n for n in names):
                raise ManifestError(f"manifest fileSchema {schema!r} has an empty field name")
            return names, False, f"manifest fileSchema of {self.where}"
        header = self._probe_first_row()
        # Field names are CamelCase; a data row holds a bucket name, which is never capitalised.
        if (
            header
            and {"Bucket", "Key"} <= set(header)
            and all(re.fullmatch(r"[A-Z][A-Za-z0-9]*", f) for f in header)
        ):
            return header, True, f"header row of {self.where}"
        return list(DEFAULT_CSV_FIELDS), False, f"default CSV columns for {self.where}"

    def _probe_first_row(self) -> list[str] | None:
        """Decompress the start of the file (one ranged GET) and parse its first row."""
        try:
            response = self._get(Range=f"bytes=0-{_HEADER_PROBE_BYTES - 1}")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":  # a zero-byte file
                return None
            raise
        with response["Body"] as body:
            head = body.read()
        try:
            text = zlib.decompressobj(wbits=31).decompress(head, _HEADER_PROBE_BYTES)
        except zlib.error as exc:
            raise DataFileError(f"data file {self.where} is not a valid gzip stream: {exc}") from None
        first_line = text.split(b"\n", 1)[0].removesuffix(b"\r").decode("utf-8", "replace")
        try:
            rows = list(csv.reader([first_line]))
        except csv.Error:
            # Not a CSV row (e.g. a lone carriage return, found by fuzzing): not a header either. The data
            # file is then parsed with the default columns, and Arrow reports what is wrong where.
            return None
        return rows[0] if rows else None

    def _csv_batches(self) -> Iterator[pa.RecordBatch]:
        names, has_header, origin = self._csv_field_names()
        wanted = self._wanted(names, what=origin)
        self._hashing = _HashingReader(self._get()["Body"])
        stream = pa.CompressedInputStream(pa.PythonFile(self._hashing, mode="r"), "gzip")
        read_options = pcsv.ReadOptions(
            column_names=names,
            skip_rows=1 if has_header else 0,
            block_size=CSV_BLOCK_BYTES,
            use_threads=False,
        )
        convert_options = pcsv.ConvertOptions(
            include_columns=[source for source, _, _ in wanted],
            column_types={source: dtype for source, _, dtype in wanted},
            # Strings are never null (an empty VersionId is the null version); "" in other columns is.
            strings_can_be_null=False,
            quoted_strings_can_be_null=True,
        )
        try:
            reader = pcsv.open_csv(stream, read_options=read_options, convert_options=convert_options)
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):  # Arrow's wording for a file without a single row
                return
            raise self._parse_error(exc) from None
        except _CORRUPT_FILE_ERRORS as exc:
            raise self._parse_error(exc) from None
        rename = [canonical for _, canonical, _ in wanted]
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except _CORRUPT_FILE_ERRORS as exc:
                    raise self._parse_error(exc) from None
                # include_columns keeps our order, so renaming is positional.
                batch = pa.RecordBatch.from_arrays(batch.columns, names=rename)
                self.rows += batch.num_rows
                yield batch
        finally:
            reader.close()

    def _parse_error(self, exc: Exception) -> DataFileError:
        """A parse failure; when the bytes do not match the manifest's checksum, say that (the root cause)."""
        detail = f"data file {self.where} cannot be read as gzip CSV: {exc}"
        if self._hashing is not None and self._file.md5:
            self._hashing.drain()
            actual = self._hashing.md5.hexdigest()
            if actual != self._file.md5:
                detail += (
                    f" (and its MD5 is {actual}, the manifest says {self._file.md5}: the file is corrupt)"
                )
        return DataFileError(detail)

    def _wanted(self, names: list[str], what: str) -> list[tuple[str, str, pa.DataType]]:
        """(source column, canonical column, type) for each column we use, in a fixed order."""
        by_canonical: dict[str, str] = {}
        for name in names:
            spec = _CANONICAL.get(_normalise(name))
            if spec is None:
                continue
            if spec[0] in by_canonical:
                raise DataFileError(f"{what} lists the column {name!r} twice")
            by_canonical[spec[0]] = name
        missing = [c for c in ("bucket", "key") if c not in by_canonical]
        if missing:
            raise DataFileError(f"{what} has no {' or '.join(missing)} column (columns: {', '.join(names)})")
        wanted = []
        for canonical, dtype in _CANONICAL.values():
            if canonical == "last_modified" and not self._need_last_modified:
                continue
            if canonical in by_canonical:
                wanted.append((by_canonical[canonical], canonical, dtype))
        self.columns = [canonical for _, canonical, _ in wanted]
        return wanted

    def _download(self) -> str:
        """Copy the data file to local disk, hashing it on the way; Parquet/ORC need random access."""
        response = self._get()
        hashing = _HashingReader(response["Body"])
        try:
            directory = self._tmp_dir or tempfile.gettempdir()
            free = shutil.disk_usage(directory).free
            if response.get("ContentLength", 0) > free:
                raise DataFileError(
                    f"data file {self.where} is {response['ContentLength']} bytes, more than the "
                    f"{free} bytes free in {directory}: give the function more ephemeral storage"
                )
            fd, path = tempfile.mkstemp(prefix="inventory-", suffix=".data", dir=directory)
            self._tmp_path = path
            with os.fdopen(fd, "wb") as out:
                while chunk := hashing.read(_COPY_CHUNK):
                    out.write(chunk)
        finally:
            hashing.release()
        self._md5 = hashing.md5.hexdigest()
        self._size = hashing.size
        # Columnar files are verified before parsing: a corrupt footer would otherwise mislead.
        self.verify()
        return path

    def _columnar_batches(self, fmt: str) -> Iterator[pa.RecordBatch]:
        path = self._download()
        try:
            if fmt == "Parquet":
                import pyarrow.parquet as pq

                # Buffered column reads instead of whole column chunks at once: flat memory (benchmarked).
                parquet = pq.ParquetFile(path, buffer_size=_COPY_CHUNK, pre_buffer=False)
                declared = parquet.metadata.num_rows
                wanted = self._wanted(parquet.schema_arrow.names, what=f"Parquet data file {self.where}")
                source = parquet.iter_batches(
                    batch_size=COLUMNAR_BATCH_ROWS, columns=[s for s, _, _ in wanted], use_threads=False
                )
            else:
                import pyarrow.dataset as ds

                # The dataset scanner yields bounded batches; ORCFile.read_stripe decodes a whole stripe.
                orc_data = ds.dataset(path, format="orc")
                declared = orc_data.count_rows()  # from the ORC footer, no data decoded
                wanted = self._wanted(orc_data.schema.names, what=f"ORC data file {self.where}")
                source = orc_data.to_batches(
                    columns=[s for s, _, _ in wanted],
                    batch_size=COLUMNAR_BATCH_ROWS,
                    batch_readahead=1,
                    fragment_readahead=1,
                    use_threads=False,
                )
            for batch in source:
                arrays = []
                for (name, _canonical, dtype), array in zip(wanted, batch.columns, strict=True):
                    arrays.append(self._cast(array, dtype, name))
                batch = pa.RecordBatch.from_arrays(arrays, names=[c for _, c, _ in wanted])
                self.rows += batch.num_rows
                yield batch
        except _CORRUPT_FILE_ERRORS as exc:
            raise DataFileError(f"{fmt} data file {self.where} cannot be read: {exc}") from None
        if self.rows != declared:
            # A corrupt page can make Arrow return fewer values than the footer declares, without an error
            # (found by fuzzing a Parquet file): rows would be lost silently.
            raise DataFileError(
                f"{fmt} data file {self.where} is corrupt: "
                f"{self.rows} rows read, its footer declares {declared}"
            )

    def _cast(self, array: pa.Array, dtype: pa.DataType, name: str) -> pa.Array:
        if array.type == dtype:
            return array
        try:
            if pa.types.is_timestamp(dtype) and pa.types.is_timestamp(array.type) and array.type.tz is None:
                # Inventory timestamps are UTC; Parquet may store them without a zone.
                return pc.assume_timezone(array.cast(pa.timestamp("ms"), safe=False), "UTC")
            return array.cast(dtype, safe=not pa.types.is_timestamp(dtype))  # sub-ms precision is moot
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataFileError(
                f"data file {self.where}: column {name!r} has type {array.type}, expected {dtype} ({exc})"
            ) from None

    # ------------------------------------------------------------------------------------------ checks
    def verify(self) -> None:
        """Check the bytes read against the manifest's MD5checksum and size. Call after the last batch."""
        if self._hashing is not None:
            self._hashing.drain()
            self._md5 = self._hashing.md5.hexdigest()
            self._size = self._hashing.size
        if self._md5 is None:
            return
        if self._file.md5 and self._md5 != self._file.md5:
            raise DataFileError(
                f"data file {self.where} is corrupt: its MD5 is {self._md5}, "
                f"the manifest says {self._file.md5}"
            )
        if self._file.size is not None and self._size != self._file.size:
            raise DataFileError(
                f"data file {self.where} is {self._size} bytes, the manifest says {self._file.size}"
            )
