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
* one NumPy fix: ``test_conv.py``'s NumPy reference convolution and dilation
  index arrays with a list of slices, which NumPy refuses since 1.23; the
  harness makes those lists tuples (``NUMPY_FIXES``), or the file could not
  even be collected.
* ``PYTENSOR_FLAGS=floatX=float32`` by default (``--floatx``): Lasagne's tests
  compare dtypes with ``theano.config.floatX``, and Lasagne's documentation
  asks for ``floatX=float32``; ``--floatx default`` leaves PyTensor's own
  default (float64), under which dropout_layers keeps float32 parameters.
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

LAYER_FILES = ["base", "dense", "noise", "helper", "input", "merge", "shape", "conv", "pool",
               "normalization", "special"]
MODULE_FILES = ["init", "nonlinearities", "objectives", "regularization", "updates", "utils"]
REPO = Path(__file__).resolve().parents[1]

STUB_CONFTEST = '''\
"""Stubs for Theano modules PyTensor renamed or removed, and a recorder (by lasagne_compat.py)."""
import json
import os
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


# Each outcome is appended as it happens, so a file stopped by the time limit
# still reports what it ran.
def _record(**entry):
    with open(os.environ["LASAGNE_COMPAT_RESULTS"], "a") as out:
        out.write(json.dumps(entry) + "\\n")


def _reason(report):
    text = getattr(report, "longreprtext", "") or str(report.longrepr or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors[0] if errors else (lines[-1] if lines else ""))[:160]


def pytest_collectreport(report):
    if report.failed:
        _record(test=report.nodeid, stage="collect", outcome="error", reason=_reason(report))


def _skip_reason(report):
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])[:160]
    return _reason(report)


def pytest_runtest_logreport(report):
    if report.when == "call" or report.failed or report.skipped:
        reason = _reason(report) if report.failed else ""
        _record(test=report.nodeid, stage=report.when, outcome=report.outcome,
                reason=_skip_reason(report) if report.skipped else reason)
'''

MOCK_STUB = '''\
"""The ``mock`` backport's names, from the standard library (written by lasagne_compat.py)."""
from unittest.mock import *  # noqa: F401,F403
'''

PYTEST_INI = """\
[pytest]
python_files = test*py
"""


# Lasagne's tests predate NumPy 1.23, which stopped reading a list of slices
# as a tuple of them; test_conv.py's NumPy reference convolution indexes so at
# import time, which would stop the whole file from being collected.
NUMPY_FIXES = {
    "test_conv.py": [
        ("output = output[slices]", "output = output[tuple(slices)]"),
        ("output[[slice(None, None, factor) for factor in factors]]",
         "output[tuple(slice(None, None, factor) for factor in factors)]"),
    ],
}


def rewrite(text, name=""):
    """Change a Lasagne test file: the two package names, and NUMPY_FIXES for that file."""
    for old, new in NUMPY_FIXES.get(name, []):
        if old not in text:
            raise SystemExit(
                f"lasagne_compat: {name} no longer contains {old!r}; update NUMPY_FIXES"
            )
        text = text.replace(old, new)
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
        target.write_text(rewrite(source.read_text(), source.name))
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


def parse_results(path):
    """Count the outcomes the recorder wrote.

    Returns (counts, failures, collection problem, Counter of skip reasons).
    """
    outcomes, reasons, problem, skips = {}, {}, None, Counter()
    lines = path.read_text().splitlines() if path.exists() else []
    for entry in map(json.loads, lines):
        if entry["stage"] == "collect":
            problem = f"collection failed: {entry['reason']}"
            continue
        test, outcome = entry["test"], entry["outcome"]
        if outcome == "skipped":
            skips[f"{path.stem}: {entry['reason'] or 'no reason given'}"] += 1
        if outcome == "failed":
            outcome = "failed" if entry["stage"] == "call" else "errors"
            reasons[test] = entry["reason"]
        if outcomes.get(test) in ("failed", "errors"):
            continue  # a teardown report does not undo a failure
        outcomes[test] = "skipped" if outcome == "skipped" else outcome
    counts = dict(passed=0, failed=0, errors=0, skipped=0)
    for outcome in outcomes.values():
        counts[outcome] += 1
    failures = [(test, outcomes[test], reason) for test, reason in reasons.items()]
    return counts, failures, problem, skips


def run_file(path, workdir, env, limit):
    """Run one test file; return (counts, failures, problem, skip reasons).

    ``problem`` is None if every test ran.
    """
    results = path.with_suffix(".jsonl")
    env = dict(env, LASAGNE_COMPAT_RESULTS=str(results))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c",
               str(workdir / "pytest.ini"), "--rootdir", str(workdir),
               str(path.relative_to(workdir))]
    problem = None
    try:
        proc = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=limit)
        if not results.exists() and proc.returncode not in (0, 1):
            problem = one_line(proc.stderr or proc.stdout) or f"pytest exited {proc.returncode}"
    except subprocess.TimeoutExpired:
        problem = f"timed out after {limit:.0f} s; the tests finished by then are counted"
    counts, failures, collect_problem, skips = parse_results(results)
    return counts, failures, collect_problem or problem, skips


def print_table(rows, show_failures):
    """Print the counts per file and in total; files that did not run fully are marked."""
    total = dict(passed=0, failed=0, errors=0, skipped=0)
    print(f"{'file':<28}{'passed':>8}{'failed':>8}{'errors':>8}{'skipped':>9}")
    incomplete = []
    for name, counts, _, problem in rows:
        for key in total:
            total[key] += counts[key]
        mark = " *" if problem else ""
        print(f"{name:<28}{counts['passed']:>8}{counts['failed']:>8}{counts['errors']:>8}"
              f"{counts['skipped']:>9}{mark}")
        if problem:
            incomplete.append(f"  * {name}: {problem}")
    ran = total["passed"] + total["failed"] + total["errors"]
    share = 100.0 * total["passed"] / ran if ran else 0.0
    print(f"{'total':<28}{total['passed']:>8}{total['failed']:>8}{total['errors']:>8}"
          f"{total['skipped']:>9}")
    print(f"passed {total['passed']} of {ran} tests run ({share:.1f}%); "
          f"{total['skipped']} skipped by Lasagne's own markers")
    if incomplete:
        print("not run in full (their remaining tests are in no count above):")
        print("\n".join(incomplete))
    if show_failures:
        for name, _, failures, _ in rows:
            for test, outcome, reason in failures:
                print(f"{'error' if outcome == 'errors' else outcome}: {test}: {reason}")
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
    parser.add_argument("--skips", action="store_true",
                        help="count the skipped tests by file and reason")
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
        rows, all_skips = [], Counter()
        for path in copied:
            name = str(path.relative_to(workdir / "tests"))
            start = time.monotonic()
            counts, failures, problem, skips = run_file(path, workdir, env, args.time_limit)
            all_skips.update(skips)
            summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "nothing ran"
            if problem:
                summary += f"; {problem}"
            print(f"{name}: {summary} ({time.monotonic() - start:.0f} s)", file=sys.stderr)
            rows.append((name, counts, failures, problem))
        print_table(rows, args.failures)
        if args.skips:
            for reason, count in sorted(all_skips.items()):
                print(f"skipped {count}: {reason}")
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
