"""Inventory conversion speed and memory: CSV.gz, Parquet and ORC against `zcat`, in the same run.

Generates inventory data files in a temp dir (deleted afterwards), then converts each one in a fresh
subprocess through the handler's own code path (DataFileReader -> convert -> LocalFileSink, MD5 verified)
and prints rows/s, the ratio to `zcat` reading the CSV.gz of the same rows (for Parquet and ORC too), and
the child's peak RSS (VmHWM). The time covers the conversion only (imports excluded, as on a warm Lambda).
Times are the best of --repeat runs, each next to a zcat run, so both see the same load; CPU seconds
(user + system) are printed too, being far less sensitive than wall time to other work on shared cores.
The 10M-row file (gzip -1, one stream) shows that peak memory does not grow with the input. Each child
first converts a one-row file, so one-time initialisation (Arrow's lazy setup, ~0.1 s, paid once per
Lambda execution environment) is not counted against the per-file figures.

Run: .venv/bin/python -m benchmarks.inventory_convert [--quick] [--rows N] [--big-rows N] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CSV_SCHEMA = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass"
TARGET_RATIO = 1.5
TARGET_RSS_MB = 200


# ------------------------------------------------------------------------------------------ generation
def _random_strings(count: int, width: int, alphabet: str):
    """`count` random strings of `width` characters, like S3 version ids (base64) or ETags (hex)."""
    import base64

    import pyarrow as pa

    if alphabet == "hex":
        data = os.urandom(count * width // 2).hex().encode()
    else:
        data = base64.b64encode(os.urandom(count * width * 3 // 4), altchars=b"._")
    offsets = pa.array(range(0, width * (count + 1), width), pa.int32()).buffers()[1]
    return pa.StringArray.from_buffers(count, offsets, pa.py_buffer(data))


def _inventory_table(start: int, count: int):
    """`count` inventory rows; raw keys, a third with spaces, six suffixes (three are images)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    i = pa.array(range(start, start + count), pa.int64())
    as_text = pc.cast(i, pa.string())
    exts = pa.array([".jpg", ".png", ".JPEG", ".txt", ".json", ".Jpg"])
    key = pc.binary_join_element_wise(
        "photos/",
        pc.cast(pc.bit_wise_and(i, 1023), pa.string()),
        "/user",
        as_text,
        pc.if_else(pc.equal(pc.bit_wise_and(i, 3), 0), " face", ""),
        pc.take(exts, pc.cast(pc.remainder(pc.multiply(i, 5), 6), pa.int32())),
        "",
    )
    is_latest = pc.not_equal(pc.bit_wise_and(i, 15), 7)
    delete_marker = pc.equal(pc.bit_wise_and(i, 31), 3)
    size = pc.if_else(
        delete_marker, pa.scalar(None, pa.int64()), pc.bit_wise_and(pc.multiply(i, 7919), 0xFFFFFF)
    )
    return pa.table(
        {
            "bucket": pa.array(["image-bucket"] * count),
            "key": key,
            "version_id": pc.binary_join_element_wise("3HL4kqtJlcpXroDTDmJ.", as_text, ""),
            "is_latest": is_latest,
            "is_delete_marker": delete_marker,
            "size": size,
            "last_modified_date": pa.array([1715854272000] * count, pa.timestamp("ms", tz="UTC")),
            "e_tag": _random_strings(count, 32, "hex"),
            "storage_class": pa.array(["STANDARD"] * count),
        }
    )


def _write_csv_gz(tables, path: Path, level: int = 6) -> None:
    """As S3 Inventory writes CSV: no header, every field quoted, keys URL-encoded with `+` for space.

    `tables` is an iterable of tables, streamed one at a time into a single gzip member.
    """
    import pyarrow.csv as pcsv

    options = pcsv.WriteOptions(include_header=False, quoting_style="all_valid")
    with open(path, "wb") as out:
        gzip = subprocess.Popen(["gzip", f"-{level}", "-c"], stdin=subprocess.PIPE, stdout=out)
        assert gzip.stdin is not None
        for table in tables:
            pcsv.write_csv(_as_inventory_text(table), gzip.stdin, write_options=options)
        gzip.stdin.close()
        if gzip.wait() != 0:
            raise RuntimeError("gzip failed")


def _as_inventory_text(table):
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name in table.column_names:
        column = table.column(name)
        if name == "key":
            column = pc.replace_substring(column, " ", "+")
        elif name == "last_modified_date":
            column = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S.000Z")
        elif pa.types.is_boolean(column.type):
            column = pc.if_else(column, "true", "false")
        column = pc.fill_null(pc.cast(column, pa.string()), "")
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _write_format(fmt: str, table, path: Path) -> Path:
    if fmt == "csv":
        _write_csv_gz([table], path)
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(table, path, compression="snappy")
    else:
        import pyarrow.orc as orc

        orc.write_table(table, path, compression="zlib")
    return path


def generate(workdir: Path, rows: int, big_rows: int) -> dict[str, Path]:
    table = _inventory_table(0, rows)
    files = {
        "csv": _write_format("csv", table, workdir / "inventory.csv.gz"),
        "parquet": _write_format("parquet", table, workdir / "inventory.parquet"),
        "orc": _write_format("orc", table, workdir / "inventory.orc"),
    }
    del table
    if big_rows:
        # One gzip stream, generated a million rows at a time (gzip -1 keeps generation quick).
        files["csv-big"] = workdir / "inventory-big.csv.gz"
        chunk = 1_000_000
        tables = (
            _inventory_table(start, min(chunk, big_rows - start)) for start in range(0, big_rows, chunk)
        )
        _write_csv_gz(tables, files["csv-big"], level=1)
    return files


# ------------------------------------------------------------------------------------------ child process
class _LocalObjects:
    """Serves get_object from a local directory: the benchmark's stand-in for S3 (storage, not logic)."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def get_object(self, Bucket: str, Key: str, Range: str | None = None) -> dict[str, Any]:
        path = self._root / Key
        body = open(path, "rb")  # noqa: SIM115 - closed by the reader
        if Range:
            first, last = (int(x) for x in Range.removeprefix("bytes=").split("-"))
            body.seek(first)
            return {"Body": _Slice(body, last - first + 1), "ContentLength": last - first + 1}
        return {"Body": body, "ContentLength": path.stat().st_size}


class _Slice:
    def __init__(self, body: Any, size: int) -> None:
        self._body, self._left = body, size

    def read(self, size: int | None = None) -> bytes:
        data = self._body.read(self._left if size is None else min(size, self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _Slice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not getrusage: Linux carries ru_maxrss across exec, so a child's
    figure would include the (large) RSS of the parent that generated the inputs."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _manifest(fmt: str, path: Path, md5: str):
    from handlers.inventory_created.manifest import parse_manifest

    return parse_manifest(
        {
            "sourceBucket": "image-bucket",
            "destinationBucket": "inventory-bucket",
            "fileFormat": {"csv": "CSV", "parquet": "Parquet", "orc": "ORC"}[fmt],
            "fileSchema": CSV_SCHEMA if fmt == "csv" else None,
            "files": [{"key": path.name, "size": path.stat().st_size, "MD5checksum": md5}],
        },
        "benchmark",
    )


def child(fmt: str, path: str, md5: str, out_dir: str) -> None:
    """Convert one file with the handler's code; print one JSON line of figures."""
    from handlers.inventory_created.convert import RowFilter, convert
    from handlers.inventory_created.reader import DataFileReader, configure_arrow_memory
    from handlers.inventory_created.settings import Settings
    from handlers.inventory_created.sink import LocalFileSink

    pool = configure_arrow_memory()  # as the handler does at cold start
    source = Path(path)
    defaults = Settings.model_fields  # the function's defaults, as deployed
    row_filter = RowFilter(defaults["image_suffixes"].default, defaults["max_image_bytes"].default)

    def run(manifest, source_dir: Path):
        sink = LocalFileSink(os.path.join(out_dir, f"manifest-{fmt}.csv"))
        with DataFileReader(
            _LocalObjects(source_dir), manifest, manifest.files[0], tmp_dir=out_dir
        ) as reader:
            result = convert(reader.batches(), sink, row_filter, key_is_url_encoded=reader.key_is_url_encoded)
            reader.verify()
        return result, sink.commit()

    warm_up = source.parent / f"warm-up-{fmt}"
    warm_up.mkdir(exist_ok=True)
    tiny = _write_format(fmt, _inventory_table(0, 1), warm_up / f"tiny.{fmt}")
    run(_manifest(fmt, tiny, _md5(tiny)), warm_up)
    baseline_rss = _peak_rss_mb()
    cpu_before = _cpu_seconds(resource.RUSAGE_SELF)
    started = time.perf_counter()
    result, written = run(_manifest(fmt, source, md5), source.parent)
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds(resource.RUSAGE_SELF) - cpu_before
    peak = _peak_rss_mb()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "rows": result.rows,
                "selected": result.selected,
                "manifest_bytes": written.size if written else 0,
                "peak_rss_mb": peak,
                "baseline_rss_mb": baseline_rss,
                "arrow_pool": pool,
            }
        )
    )


def _run_child(fmt: str, path: Path, md5: str, out_dir: Path) -> dict[str, Any]:
    output = subprocess.check_output(
        [sys.executable, "-m", "benchmarks.inventory_convert", "--child", fmt, str(path), md5, str(out_dir)]
    )
    return json.loads(output.decode().strip().splitlines()[-1])


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _zcat_seconds(path: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of `zcat path > /dev/null`."""
    cpu_before = _cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        subprocess.run(["zcat", str(path)], stdout=devnull, check=True)
    return time.perf_counter() - started, _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inventory_convert", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k rows, 1M-row big file, 1 repeat")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000, help="0 skips the big file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--child", nargs=4, metavar=("FORMAT", "PATH", "MD5", "OUT_DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return
    if args.quick:
        args.rows, args.big_rows, args.repeat = 100_000, 1_000_000, 1

    with tempfile.TemporaryDirectory(prefix="inventory-bench-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        files = generate(workdir, args.rows, args.big_rows)
        sizes = ", ".join(f"{name} {path.stat().st_size / 1e6:.1f} MB" for name, path in files.items())
        print(f"generated in {time.perf_counter() - started:.1f}s: {sizes}")
        out_dir = workdir / "out"
        out_dir.mkdir()
        print(
            f"{'input':<10} {'rows':>11} {'selected':>10} {'wall s':>7} {'rows/s':>11} {'zcat s':>7} "
            f"{'x zcat':>7} {'cpu s':>7} {'zcat cpu':>8} {'x zcat':>7} {'peak RSS':>9}"
        )
        verdicts = []
        for fmt in ("csv", "parquet", "orc", "csv-big"):
            if fmt not in files:
                continue
            md5 = _md5(files[fmt])
            # zcat runs interleaved with the conversions, so both see the same machine load (shared cores).
            zcat_file = files["csv-big"] if fmt == "csv-big" else files["csv"]
            repeat = 1 if fmt == "csv-big" else args.repeat
            runs, zcats = [], []
            for _ in range(repeat):
                zcats.append(_zcat_seconds(zcat_file))
                runs.append(_run_child(fmt.removesuffix("-big"), files[fmt], md5, out_dir))
            wall = min(r["seconds"] for r in runs)
            cpu = min(r["cpu_seconds"] for r in runs)
            zcat_wall = min(z[0] for z in zcats)
            zcat_cpu = min(z[1] for z in zcats)
            peak = max(r["peak_rss_mb"] for r in runs)
            rows, selected = runs[0]["rows"], runs[0]["selected"]
            print(
                f"{fmt:<10} {rows:>11,} {selected:>10,} {wall:>7.3f} {rows / wall:>11,.0f} "
                f"{zcat_wall:>7.3f} {wall / zcat_wall:>7.2f} {cpu:>7.3f} {zcat_cpu:>8.3f} "
                f"{cpu / zcat_cpu:>7.2f} {peak:>6.0f} MB"
            )
            if fmt == "csv":
                ratios = f"{wall / zcat_wall:.2f} wall, {cpu / zcat_cpu:.2f} CPU"
                verdicts.append(f"CSV x zcat {ratios} (target <= {TARGET_RATIO})")
            if fmt in ("csv", "csv-big"):
                verdicts.append(f"{fmt} peak RSS {peak:.0f} MB (target < {TARGET_RSS_MB})")
        print(
            f"interpreter + imports alone: {runs[0]['baseline_rss_mb']:.0f} MB RSS; "
            f"Arrow memory pool: {runs[0]['arrow_pool']}"
        )
        print("; ".join(verdicts))


if __name__ == "__main__":
    main()
