"""train_higgs.py when runs go wrong: a second run, leftovers, a full disk, a failed or cut run.

Each bad run starts from a copy of one good run's ``--out`` and must leave its
files as they were (or, for a full disk, keep the checkpoint it wrote).
"""
import errno
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, run_script

from dropout_layers.checkpoint import load_checkpoint
from dropout_layers.files import TEMPORARY_PATTERN
from dropout_layers_higgs import plots
from dropout_layers_higgs.cli import train
from dropout_layers_higgs.cli.rundir import LOCK_NAME, RunDirectory
from dropout_layers_higgs.synthetic import write_toy_higgs

SCRIPT = REPO / "scripts" / "train_higgs.py"
TINY = ("--folds", "1", "--hidden", "8", "--epochs", "2", "--batch-size", "32", "--quiet")


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "toy.csv"
    write_toy_higgs(path, n_events=1200, seed=4)
    return path


@pytest.fixture(scope="module")
def good_run(toy_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("good") / "out"
    proc = run_script(SCRIPT, "--data", toy_file, "--out", out, *TINY, cwd=out.parent)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def earlier(good_run, tmp_path):
    """A copy of the good run's --out, for a run that must not spoil it."""
    out = tmp_path / "out"
    shutil.copytree(good_run, out)
    return out


def snapshot(directory):
    return {path.name: path.read_bytes() for path in sorted(Path(directory).iterdir())
            if path.name != LOCK_NAME}


def temporaries(directory):
    return [path.name for path in Path(directory).iterdir() if TEMPORARY_PATTERN.match(path.name)]


def one_error_line(stderr, prog="train_higgs.py"):
    assert stderr.startswith(f"{prog}: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    return stderr


def run_id_of_checkpoint(path):
    return load_checkpoint(path).metadata["metrics"]["run_id"]


def test_checkpoint_and_metrics_carry_one_run_id(good_run):
    metrics = json.loads((good_run / "metrics.json").read_text())
    assert metrics["run_id"] and run_id_of_checkpoint(good_run / "model.h5") == metrics["run_id"]


def test_a_second_run_on_the_same_out_is_refused_naming_the_first(earlier, toy_file):
    before = snapshot(earlier)
    with RunDirectory(earlier, "train_higgs.py"):
        proc = run_script(SCRIPT, "--data", toy_file, "--out", earlier, *TINY, cwd=earlier)
    assert proc.returncode == 1
    one_error_line(proc.stderr)
    assert f"{earlier} is in use by another run: PID {os.getpid()} (train_higgs.py, started " \
        in proc.stderr
    assert snapshot(earlier) == before


def test_stale_temporaries_in_out_are_removed_at_start(earlier, tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    stale = earlier / f".model.{int(finished.stdout)}.0123abcd.tmp.h5"
    stale.write_bytes(b"half a checkpoint")
    before = snapshot(earlier)
    # A run that then fails on its data still clears what killed runs left.
    proc = run_script(SCRIPT, "--data", tmp_path / "absent.csv", "--out", earlier, cwd=tmp_path)
    assert proc.returncode == 1 and "absent.csv: no such file" in proc.stderr
    del before[stale.name]
    assert not stale.exists() and snapshot(earlier) == before


def test_a_kill_between_checkpoint_and_metrics_shows_as_two_run_ids(earlier, toy_file,
                                                                      monkeypatch):
    old_id = json.loads((earlier / "metrics.json").read_text())["run_id"]

    def killed(*args, **kwargs):
        raise SystemExit(137)

    monkeypatch.setattr(train, "write_json", killed)
    with pytest.raises(SystemExit):
        train.main(["--data", str(toy_file), "--out", str(earlier), *TINY], "train_higgs.py")
    new_id = run_id_of_checkpoint(earlier / "model.h5")
    assert json.loads((earlier / "metrics.json").read_text())["run_id"] == old_id != new_id


def test_a_full_disk_while_plotting_keeps_the_checkpoint(earlier, toy_file, monkeypatch,
                                                         capsys):
    def full(figure, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(plots, "save_figure", full)
    status = train.run(["--data", str(toy_file), "--out", str(earlier), *TINY], "train_higgs.py")
    assert status == 1
    stderr = one_error_line(capsys.readouterr().err)
    assert stderr == (f"train_higgs.py: error: no space left on {earlier}; kept model.h5, "
                      "metrics.json, split.csv\n")
    metrics = json.loads((earlier / "metrics.json").read_text())
    assert run_id_of_checkpoint(earlier / "model.h5") == metrics["run_id"]
    assert temporaries(earlier) == []


def test_a_failed_run_exits_non_zero_and_keeps_the_earlier_model(earlier, toy_file):
    before = snapshot(earlier)
    # Nesterov momentum at this rate diverges in its first epochs.
    proc = run_script(SCRIPT, "--data", toy_file, "--out", earlier, "--folds", "1", "--hidden",
                      "8", "--epochs", "3", "--update", "nesterov_momentum", "--learning-rate",
                      "100", "--quiet", cwd=earlier)
    assert proc.returncode == 1
    assert one_error_line(proc.stderr).startswith("train_higgs.py: error: training failed: ")
    assert "lower --learning-rate" in proc.stderr
    assert snapshot(earlier) == before


def lines_until(proc, prefix, timeout):
    """Read ``proc``'s output until a line starts with ``prefix``; fail after ``timeout`` s.

    Reads the pipe's descriptor directly: ``proc.stdout.readline`` would buffer
    the lines after the one asked for, and ``select`` would then wait for output
    that has already arrived (here, until the first epoch ended).
    """
    deadline = time.monotonic() + timeout
    fd, pending = proc.stdout.fileno(), b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            break
        data = os.read(fd, 65536)
        if not data:
            break
        *lines, pending = (pending + data).split(b"\n")
        if any(line.decode(errors="replace").startswith(prefix) for line in lines):
            return
    raise AssertionError(f"no line starting with {prefix!r} within {timeout} s")


def test_ctrl_c_in_the_first_epoch_keeps_the_earlier_model(earlier, tmp_path):
    before = snapshot(earlier)
    big = tmp_path / "big.csv"
    write_toy_higgs(big, n_events=30_000, seed=5)
    # Batches of one event make the first epoch last several seconds under numba (JAX's
    # steps are quick enough to finish both epochs first); without the rotations the
    # batches come from arrays and the trainer says when it starts.
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--data", str(big), "--out", str(earlier), "--folds", "1",
         "--hidden", "8", "--batch-size", "1", "--epochs", "2", "--no-augment-phi",
         "--backend", "numba"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        lines_until(proc, "training on", timeout=120)
        time.sleep(2.0)  # past the (cached) compilation, inside epoch 1
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert "interrupted" in one_error_line(stderr)
    assert snapshot(earlier) == before and temporaries(earlier) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only); yields its path and unmounts it afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the full disk is simulated in-process above")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the full disk is "
                    "simulated in-process above")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(disk, leave_free):
    """Fill ``disk`` until ``leave_free`` bytes are left."""
    stats = os.statvfs(disk)
    free = stats.f_bavail * stats.f_frsize
    with open(disk / "filler", "wb") as filler:
        filler.write(b"\0" * max(free - leave_free, 0))


@pytest.mark.slow
@pytest.mark.parametrize("free_kib", [0, 48, 160])
def test_a_real_full_disk_ends_in_one_line_and_loses_nothing(good_run, toy_file, small_disk,
                                                             free_kib):
    out = small_disk / "out"
    shutil.copytree(good_run, out)
    fill(small_disk, free_kib * 1024)
    proc = run_script(SCRIPT, "--data", toy_file, "--out", out, *TINY, cwd=small_disk.parent)
    if proc.returncode != 0:
        assert proc.returncode == 1
        assert one_error_line(proc.stderr).startswith(
            f"train_higgs.py: error: no space left on {out}")
    # Whatever was kept is whole, and the checkpoint and metrics are one run's.
    metrics = json.loads((out / "metrics.json").read_text())
    checkpoint_id = run_id_of_checkpoint(out / "model.h5")
    kept = proc.stderr.split("; kept ")[-1].strip().split(", ") if "; kept " in proc.stderr \
        else []
    if "metrics.json" in kept or proc.returncode == 0:
        assert checkpoint_id == metrics["run_id"]
    if not kept and proc.returncode != 0:
        assert snapshot(out) == snapshot(good_run)
    assert temporaries(out) == []


@pytest.mark.slow
def test_a_bag_that_fills_the_disk_resumes_once_there_is_space(toy_file, small_disk):
    out = small_disk / "out"
    bag = ("--folds", "3", "--hidden", "16", "--epochs", "2", "--batch-size", "32", "--quiet")
    # Room for about one network's checkpoint.
    fill(small_disk, 60 * 1024)
    proc = run_script(SCRIPT, "--data", toy_file, "--out", out, *bag, cwd=small_disk.parent)
    assert proc.returncode == 1
    assert one_error_line(proc.stderr) == (
        f"train_higgs.py: error: no space left on {out}; the finished networks are kept in "
        f"{out / 'members'}: free some space and add --resume to train only the missing ones\n")
    kept = sorted(path.name for path in (out / "members").iterdir())
    assert kept and not (out / "model.h5").exists() and temporaries(out / "members") == []
    (small_disk / "filler").unlink()
    proc = run_script(SCRIPT, "--data", toy_file, "--out", out, *bag, "--resume",
                      cwd=small_disk.parent)
    assert proc.returncode == 0, proc.stderr
    assert f"{3 - len(kept)} trained, {len(kept)} resumed" in proc.stdout
