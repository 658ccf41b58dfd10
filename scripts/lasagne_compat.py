"""Run Lasagne's own test suite against dropout_layers, with the imports changed only.

The script copies Lasagne's test files (the layer tests of ``base``, ``dense``,
``noise``, ``helper``, ``input``, ``merge``, ``shape``, ``conv``, ``pool``,
``normalization`` and ``special``, and the tests of ``init``,
``nonlinearities``, ``objectives``, ``regularization``, ``updates`` and
``utils``) into a temporary directory, replaces the text ``lasagne`` by
``dropout_layers`` and ``theano`` by ``pytensor`` (nothing else), runs pytest
on each file with a time limit and prints passed / failed / errors per file
and in total::

    python scripts/lasagne_compat.py --lasagne /path/to/Lasagne

``PATH`` is a checkout of https://github.com/Lasagne/Lasagne (the directory
holding ``lasagne/tests``). Nothing of Lasagne is copied into this repository
and the project's test suite never runs this script.

What the harness provides besides the rewritten files, because the tests
import things that are neither Lasagne's nor ours:

* ``mock``: Lasagne's tests import the ``mock`` backport (in the ``test``
  extra). Without it a stub module in the temporary directory re-exports
  :mod:`unittest.mock`, whose Python 3.11 version evaluates every property
  of an instance it mocks: ``Mock(MergeLayer(...))`` then raises in setup,
  so a few merge-layer tests error that pass with the backport.
* Theano modules that PyTensor renamed or removed, registered as small stub
  modules by the temporary ``conftest.py``: ``pytensor.gpuarray`` (no GPU
  back end: ``pygpu_activated = False``), ``pytensor.gof.graph.is_same_graph``
  (PyTensor's ``pytensor.graph.rewriting.utils.is_same_graph``) and
  ``pytensor.scan_module.scan_utils.equal_computations``
  (``pytensor.graph.basic.equal_computations``).
* ``PYTENSOR_FLAGS=floatX=float32`` by default (``--floatx``): Lasagne's tests
  compare dtypes with ``theano.config.floatX``, and Lasagne's documentation
  asks for ``floatX=float32``; ``--floatx default`` leaves PyTensor's own
  default (float64), under which dropout_layers keeps float32 parameters.
"""
import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path

LAYER_FILES = ["base", "dense", "noise", "helper", "input", "merge", "shape", "conv", "pool",
               "normalization", "special"]
MODULE_FILES = ["init", "nonlinearities", "objectives", "regularization", "updates", "utils"]
REPO = Path(__file__).resolve().parents[1]

STUB_CONFTEST = '''\
"""Stubs for Theano modules that PyTensor renamed or removed (written by lasagne_compat.py)."""
import sys
import types

import pytensor
from pytensor.graph.basic import equal_computations
from pytensor.graph.rewriting.utils import is_same_graph


def _module(name, **attributes):
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)
    return module


_module("pytensor.gpuarray", pygpu_activated=False)
_module("pytensor.gof")
_module("pytensor.gof.graph", is_same_graph=is_same_graph)
_module("pytensor.scan_module")
_module("pytensor.scan_module.scan_utils", equal_computations=equal_computations)
'''

MOCK_STUB = '''\
"""The ``mock`` backport's names, from the standard library (written by lasagne_compat.py)."""
from unittest.mock import *  # noqa: F401,F403
'''

PYTEST_INI = """\
[pytest]
python_files = test*py
filterwarnings =
    ignore::DeprecationWarning
"""


def rewrite(text):
    """The only change made to Lasagne's test files: the two package names."""
    return text.replace("lasagne", "dropout_layers").replace("theano", "pytensor")


def selected_files(lasagne_root, names):
    tests = lasagne_root / "lasagne" / "tests"
    files = [tests / "layers" / f"test_{n}.py" for n in LAYER_FILES]
    files += [tests / f"test_{n}.py" for n in MODULE_FILES]
    if names:
        wanted = set(names)
        files = [f for f in files if f.stem[len("test_"):] in wanted]
        unknown = wanted - {f.stem[len("test_"):] for f in files}
        if unknown:
            raise SystemExit(f"lasagne_compat: unknown test file(s) {sorted(unknown)}; "
                             f"choose from {LAYER_FILES + MODULE_FILES}")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"lasagne_compat: {missing[0]} not found; --lasagne must point to a "
                         "Lasagne checkout (the directory holding lasagne/tests)")
    return files


def prepare(lasagne_root, files, workdir):
    tests = lasagne_root / "lasagne" / "tests"
    (workdir / "tests" / "layers").mkdir(parents=True)
    for conftest in (tests / "conftest.py", tests / "layers" / "conftest.py"):
        target = workdir / conftest.relative_to(tests.parent)
        target.write_text(rewrite(conftest.read_text()))
    (workdir / "conftest.py").write_text(STUB_CONFTEST)
    if importlib.util.find_spec("mock") is None:
        print("lasagne_compat: the mock backport is not installed (pip install mock); using "
              "unittest.mock, under which some tests of mocked merge layers error", file=sys.stderr)
        (workdir / "mock.py").write_text(MOCK_STUB)
    (workdir / "pytest.ini").write_text(PYTEST_INI)
    copied = []
    for source in files:
        target = workdir / source.relative_to(tests.parent)
        target.write_text(rewrite(source.read_text()))
        copied.append(target)
    return copied


def environment(floatx, extra_flags):
    env = dict(os.environ)
    flags = [f for f in env.get("PYTENSOR_FLAGS", "").split(",") if f]
    if floatx != "default":
        flags = [f for f in flags if not f.startswith("floatX=")] + [f"floatX={floatx}"]
    flags += [f for f in extra_flags.split(",") if f]
    if flags:
        env["PYTENSOR_FLAGS"] = ",".join(flags)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def one_line(text):
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            return line[:160]
    return ""


def parse_report(report):
    """Count outcomes in a junit XML report; return (counts, failures)."""
    counts = dict(passed=0, failed=0, errors=0, skipped=0)
    failures = []
    for case in ElementTree.parse(report).iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "errors"
                message = child.get("message") or child.text
                failures.append((name, outcome, one_line(message)))
                break
            if child.tag == "skipped":
                outcome = "skipped"
        counts[outcome] += 1
    return counts, failures


def run_file(path, workdir, env, limit):
    report = path.with_suffix(".xml")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
               str(workdir / "pytest.ini"), "--rootdir", str(workdir), f"--junitxml={report}",
               str(path.relative_to(workdir))]
    try:
        proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=limit)
    except subprocess.TimeoutExpired:
        return None, [], f"timed out after {limit:.0f} s"
    if not report.exists():
        reason = one_line(proc.stderr or proc.stdout) or f"pytest exited with {proc.returncode}"
        return None, [], reason
    counts, failures = parse_report(report)
    return counts, failures, None


def print_table(rows, show_failures):
    total = dict(passed=0, failed=0, errors=0, skipped=0)
    print(f"{'file':<28}{'passed':>8}{'failed':>8}{'errors':>8}{'skipped':>9}")
    for name, counts, _, problem in rows:
        if counts is None:
            print(f"{name:<28}  not counted: {problem}")
            continue
        for key in total:
            total[key] += counts[key]
        print(f"{name:<28}{counts['passed']:>8}{counts['failed']:>8}{counts['errors']:>8}"
              f"{counts['skipped']:>9}")
    ran = total["passed"] + total["failed"] + total["errors"]
    share = 100.0 * total["passed"] / ran if ran else 0.0
    print(f"{'total':<28}{total['passed']:>8}{total['failed']:>8}{total['errors']:>8}"
          f"{total['skipped']:>9}")
    print(f"passed {total['passed']} of {ran} tests run ({share:.1f}%); "
          f"{total['skipped']} skipped by Lasagne's own markers")
    if show_failures:
        for name, _, failures, _ in rows:
            for test, outcome, reason in failures:
                print(f"{outcome[:-1] if outcome == 'errors' else outcome}: {test}: {reason}")
    return total


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lasagne", required=True, type=Path,
                        help="a Lasagne checkout (the directory holding lasagne/tests)")
    parser.add_argument("--files", nargs="*", default=None,
                        help=f"run only these test files, from {LAYER_FILES + MODULE_FILES}")
    parser.add_argument("--time-limit", type=float, default=1200.0,
                        help="seconds allowed for each test file (default 1200)")
    parser.add_argument("--floatx", choices=["float32", "float64", "default"], default="float32",
                        help="PyTensor's floatX for the run (default float32, as Lasagne advises)")
    parser.add_argument("--pytensor-flags", default="",
                        help="further PYTENSOR_FLAGS entries, comma-separated")
    parser.add_argument("--failures", action="store_true",
                        help="list every failing test with a one-line reason")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory and print its path")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    files = selected_files(args.lasagne.resolve(), args.files)
    workdir = Path(tempfile.mkdtemp(prefix="lasagne-compat-"))
    try:
        copied = prepare(args.lasagne.resolve(), files, workdir)
        env = environment(args.floatx, args.pytensor_flags)
        rows = []
        for path in copied:
            name = str(path.relative_to(workdir / "tests"))
            start = time.monotonic()
            counts, failures, problem = run_file(path, workdir, env, args.time_limit)
            summary = problem or ", ".join(f"{v} {k}" for k, v in counts.items() if v)
            print(f"{name}: {summary} ({time.monotonic() - start:.0f} s)", file=sys.stderr)
            rows.append((name, counts, failures, problem))
        print_table(rows, args.failures)
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
