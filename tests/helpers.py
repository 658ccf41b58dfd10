"""Helpers shared by the tests: fresh interpreters, scripts, edited CSV lines."""
import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def run_python(code, *args, cwd=None):
    """Run ``code`` in a fresh interpreter and return its stdout/stderr."""
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd or "/", timeout=300)
    return proc


def run_script(script, *args, cwd, env=None):
    """Run one of ``scripts/`` (a path) with ``args`` in a fresh interpreter."""
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300, env=env)


def load_script(script):
    """Import one of ``scripts/`` (a path) as a module, to call its functions in-process."""
    spec = importlib.util.spec_from_file_location(f"{Path(script).stem}_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_field(lines, line_number, column, value):
    """Copy of CSV ``lines`` with one field replaced (line numbers count from 1)."""
    header = lines[0].split(",")
    lines = list(lines)
    fields = lines[line_number - 1].split(",")
    fields[header.index(column)] = value
    lines[line_number - 1] = ",".join(fields)
    return lines
