#!/usr/bin/env python
"""Read and train at the data sizes users have: UCI-format files of 10^5 to 10^7 rows.

For each size the script writes a synthetic UCI-format file (no header, the 0/1 label, 28
features in shortest round-trip form, about 480 bytes a row), then, in a fresh interpreter so
that each peak memory is its own, reads it with ``load_higgs`` and trains one epoch of a small
dropout network (28-64-64-1, through ``dropout_layers.training.fit``; a first epoch on 2,048
rows compiles the functions beforehand, so the epoch timed is compiled code only). It reports
read time, rows per second, peak RSS over the interpreter's RSS before reading (as a multiple
of the float32 feature matrix) and the epoch's time and rows per second: costs that grow
faster than linearly show as falling rows per second.

    python scripts/benchmark_scale.py                          # 10^5 and 10^6 rows (~0.5 GB)
    python scripts/benchmark_scale.py --rows 100000 1000000 10000000 --compare   # ~5 GB disk
    python scripts/benchmark_scale.py --rows 2000 --no-train --json scale.json

The default leaves out 10^7 rows: its file needs about 5 GB of disk (the real 11-million-row
HIGGS.csv is 7.5 GB) and a few minutes to write. ``--compare`` also times
``pandas.read_csv`` and ``pyarrow.csv.read_csv`` on each file (each in its own interpreter),
the references to beat. Files go to a temporary directory unless ``--dir`` names one, and are
removed afterwards unless ``--keep``. Timings mean something only on an otherwise idle
machine; the script says when the load average exceeds the core count. Peak memory is the
interpreter's own high-water mark (``VmHWM``, reset before reading), so the script needs
Linux's ``/proc``.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_FEATURES = 28
DEFAULT_ROWS = (100_000, 1_000_000)

# Run in a fresh interpreter: read (and train), print one JSON line.
MEASURE = r"""
import json, sys, time
import numpy as np
def status(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))
def rss():
    return status("VmRSS:")
def reset_peak():
    # ru_maxrss is no use here: Linux carries the parent's peak across exec,
    # so a child of the process that wrote the file would report that file's
    # arrays. VmHWM is this process's own, and writing 5 to clear_refs resets it.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
def peak():
    return status("VmHWM:")
path, reader, train = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if reader == "load_higgs":
    from dropout_layers_higgs.data import load_higgs
    try:
        import pyarrow.csv  # imported before the clock starts, as for the references
    except ImportError:
        pass
    load = lambda: load_higgs(path, format="uci")
elif reader == "pandas":
    import pandas
    load = lambda: pandas.read_csv(path, header=None)
else:
    import pyarrow.csv
    load = lambda: pyarrow.csv.read_csv(
        path, read_options=pyarrow.csv.ReadOptions(autogenerate_column_names=True))
if train:
    import dropout_layers as dl
    from dropout_layers import init, nonlinearities
    from dropout_layers.training import fit
reset_peak()
before = rss()
start = time.perf_counter()
data = load()
result = {"read_s": time.perf_counter() - start, "rss_before": before, "peak_read": peak()}
if reader == "load_higgs":
    result["matrix_bytes"] = data.X.nbytes
if train:
    dl.set_rng(np.random.RandomState(0))
    layer = dl.InputLayer((None, data.n_features))
    for units in (64, 64):
        layer = dl.ReLUDenseLayer(layer, num_units=units, W=init.GlorotUniform())
        layer = dl.SwitchDropoutLayer(layer, p=0.5)
    network = dl.DenseLayer(layer, num_units=1, nonlinearity=nonlinearities.sigmoid)
    trainer = fit(network, data.X[:2048], data.y[:2048], update="adam", learning_rate=1e-3,
                  epochs=1, batch_size=256, verbose=False)
    start = time.perf_counter()
    trainer.fit(data.X, data.y, epochs=2, batch_size=256, verbose=False)
    result["epoch_s"] = time.perf_counter() - start
    result["peak_train"] = peak()
print(json.dumps(result))
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS),
                        help="file sizes in rows (default: 100000 1000000)")
    parser.add_argument("--dir", type=Path, help="where to write the files (default: a "
                        "temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the files afterwards")
    parser.add_argument("--no-train", action="store_true", help="read only, no epoch")
    parser.add_argument("--compare", action="store_true",
                        help="also time pandas.read_csv and pyarrow.csv.read_csv")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if any(n < 10 for n in args.rows):
        parser.error("--rows: each size must be at least 10")
    return args


def write_file(path, n_rows, chunk=500_000):
    """Write ``n_rows`` learnable synthetic events in the UCI format, a chunk at a time."""
    from dropout_layers_higgs.data import write_uci_csv

    rng = np.random.default_rng(n_rows)
    direction = rng.normal(size=N_FEATURES)
    parts = []
    for start in range(0, n_rows, chunk):
        X = rng.normal(size=(min(chunk, n_rows - start), N_FEATURES)).astype(np.float32)
        y = (X @ direction + rng.normal(scale=2.0, size=len(X)) > 0).astype(np.int8)
        part = path.with_suffix(f".part{len(parts)}")
        write_uci_csv(part, X, y)
        parts.append(part)
    with open(path, "wb") as out:
        for part in parts:
            with open(part, "rb") as source:
                while block := source.read(1 << 24):
                    out.write(block)
            part.unlink()
    return path.stat().st_size


def measure(path, reader, train):
    code = MEASURE
    proc = subprocess.run([sys.executable, "-c", code, str(path), reader, "1" if train else "0"],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        raise SystemExit(f"benchmark_scale: {reader} on {path} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def row_of(n_rows, size, result, compare):
    matrix = result["matrix_bytes"]
    row = {"rows": n_rows, "file_bytes": size, "read_s": result["read_s"],
           "read_rows_per_s": n_rows / result["read_s"],
           "peak_read_over_matrix": (result["peak_read"] - result["rss_before"]) / matrix}
    if "epoch_s" in result:
        row["epoch_s"] = result["epoch_s"]
        row["epoch_rows_per_s"] = n_rows / result["epoch_s"]
        row["peak_train_over_matrix"] = (result["peak_train"] - result["rss_before"]) / matrix
    for name, other in compare.items():
        row[f"{name}_read_s"] = other["read_s"]
    return row


def print_table(rows):
    columns = [("rows", "{:,}"), ("file_bytes", "{:,}"), ("read_s", "{:.2f}"),
               ("read_rows_per_s", "{:,.0f}"), ("peak_read_over_matrix", "{:.2f}"),
               ("epoch_s", "{:.2f}"), ("epoch_rows_per_s", "{:,.0f}"),
               ("peak_train_over_matrix", "{:.2f}"), ("pandas_read_s", "{:.2f}"),
               ("pyarrow_read_s", "{:.2f}")]
    columns = [(name, form) for name, form in columns if any(name in row for row in rows)]
    print("| " + " | ".join(name for name, _ in columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(form.format(row[name]) if name in row else "-"
                                for name, form in columns) + " |")


def main(argv=None):
    args = parse_args(argv)
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > cores:
        print(f"warning: load average {load:.1f} exceeds the {cores} cores; the timings below "
              "are not meaningful", file=sys.stderr)
    directory = args.dir or Path(tempfile.mkdtemp(prefix="benchmark_scale_"))
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for n_rows in args.rows:
            path = directory / f"uci_{n_rows}.csv"
            start = time.perf_counter()
            size = write_file(path, n_rows)
            print(f"wrote {path} ({size:,} bytes) in {time.perf_counter() - start:.1f} s",
                  file=sys.stderr)
            result = measure(path, "load_higgs", not args.no_train)
            compare = ({name: measure(path, name, False) for name in ("pandas", "pyarrow")}
                       if args.compare else {})
            rows.append(row_of(n_rows, size, result, compare))
            if not args.keep:
                path.unlink()
    finally:
        if args.dir is None and not args.keep:
            for leftover in directory.iterdir():
                leftover.unlink()
            directory.rmdir()
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({"load_average": load, "cores": cores, "results": rows},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
