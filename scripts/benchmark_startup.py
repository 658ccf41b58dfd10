#!/usr/bin/env python
"""How long the first run of train_higgs.py takes against a later one: cold and warm starts.

Each round runs ``scripts/train_higgs.py`` (with its defaults, or the
arguments given after ``--``) twice in fresh subprocesses: first with empty
PyTensor and numba cache directories (cold: everything is compiled), then
again with the caches the first run filled (warm). It prints the wall and
CPU time of both and the compile share, ``(cold - warm) / cold``::

    python scripts/benchmark_startup.py                      # the default demo run
    python scripts/benchmark_startup.py --rounds 3 --json startup.json
    python scripts/benchmark_startup.py --env NUMBA_OPT=1 -- --epochs 5
    python scripts/benchmark_startup.py -- --data training.csv --epochs 10

Fresh caches are temporary directories given to PyTensor as
``base_compiledir`` (its numba cache lives in ``base_compiledir/numba``;
``compiledir`` alone leaves that cache warm) and to numba as
``NUMBA_CACHE_DIR``; they are removed afterwards unless ``--keep`` says
where to leave them. Each run writes to a temporary ``--out`` unless the
arguments name one.

Figures from a busy machine mean little: the script says so when the load
average exceeds the number of cores. CPU times (user + system of the run)
are less disturbed by other processes than wall times.
"""
import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dropout_layers.files import write_json

TRAIN_SCRIPT = Path(__file__).resolve().parent / "train_higgs.py"
_CACHE_FLAGS = re.compile(r"^\s*(base_)?compiledir\s*=")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Arguments after -- go to train_higgs.py.")
    parser.add_argument("--rounds", type=int, default=1,
                        help="cold + warm pairs to run (default %(default)s)")
    parser.add_argument("--script", type=Path, default=TRAIN_SCRIPT,
                        help="the script to time (default: scripts/train_higgs.py)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the runs, for example NUMBA_OPT=1 "
                             "(repeatable)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="leave the cache and output directories in DIR")
    parser.add_argument("--timeout", type=float, default=1800,
                        help="seconds one run may take (default %(default)s)")
    args, rest = parser.parse_known_args(argv)
    if rest and rest[0] == "--":
        rest = rest[1:]
    elif rest:
        parser.error(f"unrecognised arguments {' '.join(rest)}; put train_higgs.py's arguments "
                     "after --")
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    for item in args.env:
        if "=" not in item or not item.split("=", 1)[0]:
            parser.error(f"--env takes NAME=VALUE, got {item!r}")
    if not args.script.is_file():
        parser.error(f"{args.script}: no such script")
    args.train_args = rest
    return args


def run_environment(cache_dir, extra):
    """The environment of one run: ``extra`` set, and fresh caches under ``cache_dir``.

    Other ``PYTENSOR_FLAGS`` (from the environment or ``extra``) are kept;
    only their cache directories are replaced.
    """
    env = dict(os.environ)
    env.update(item.split("=", 1) for item in extra)
    flags = [flag for flag in env.get("PYTENSOR_FLAGS", "").split(",")
             if flag.strip() and not _CACHE_FLAGS.match(flag)]
    flags.append(f"base_compiledir={cache_dir / 'pytensor'}")
    env["PYTENSOR_FLAGS"] = ",".join(flags)
    env["NUMBA_CACHE_DIR"] = str(cache_dir / "numba")
    return env


def timed_run(command, env, timeout):
    """Run ``command``; return wall seconds, CPU seconds (user + system) and the process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def machine_load():
    """``(load average over 1 minute, cores, busy)``; busy when the load exceeds the cores."""
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return load, cores, load > cores


def one_round(args, work, index):
    """Time a cold and then a warm run; return their figures."""
    cache_dir = work / f"round{index}" / "cache"
    out_dir = work / f"round{index}" / "out"
    env = run_environment(cache_dir, args.env)
    train_args = list(args.train_args)
    if "--out" not in train_args:
        train_args += ["--out", str(out_dir)]
    command = [sys.executable, str(args.script), *train_args]
    figures = {}
    for kind in ("cold", "warm"):
        wall, cpu, proc = timed_run(command, env, args.timeout)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise RuntimeError(f"the {kind} run exited with status {proc.returncode}:\n{tail}")
        figures[kind] = {"wall_s": wall, "cpu_s": cpu}
    cold, warm = figures["cold"], figures["warm"]
    figures["compile_share_wall"] = (cold["wall_s"] - warm["wall_s"]) / cold["wall_s"]
    figures["compile_share_cpu"] = (cold["cpu_s"] - warm["cpu_s"]) / cold["cpu_s"]
    return figures


def report_table(rounds):
    lines = ["| round | cold wall s | warm wall s | cold CPU s | warm CPU s | compile share "
             "(wall) | compile share (CPU) |",
             "|---|---|---|---|---|---|---|"]
    for index, figures in enumerate(rounds, start=1):
        cold, warm = figures["cold"], figures["warm"]
        lines.append(f"| {index} | {cold['wall_s']:.1f} | {warm['wall_s']:.1f} | "
                     f"{cold['cpu_s']:.1f} | {warm['cpu_s']:.1f} | "
                     f"{figures['compile_share_wall']:.0%} | {figures['compile_share_cpu']:.0%} |")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    load, cores, busy = machine_load()
    if busy:
        print(f"warning: the machine is busy (load average {load:.1f} on {cores} cores): wall "
              "times are not meaningful; CPU times are less affected", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="startup-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    command = " ".join([str(args.script.name), *args.train_args]) or args.script.name
    print(f"timing {command}: {args.rounds} cold + warm pair(s)"
          + (f" with {' '.join(args.env)}" if args.env else ""), flush=True)
    try:
        rounds = [one_round(args, work, index) for index in range(1, args.rounds + 1)]
    except (RuntimeError, subprocess.TimeoutExpired) as error:
        print(f"benchmark_startup.py: error: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(report_table(rounds))
    if args.json is not None:
        report = {"script": str(args.script), "train_args": args.train_args, "env": args.env,
                  "load_average": load, "cores": cores, "busy": busy, "rounds": rounds}
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
