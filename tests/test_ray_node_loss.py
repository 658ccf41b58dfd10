"""A Ray node lost while ensemble members train: Ray retries them, the members come out the same.

A two-node cluster runs on this machine: a head node and a worker node, each
with one CPU, its own temporary directory and its own ports, started with
``ray start --block`` in process groups of their own so that the test can
kill exactly the worker node (its raylet and its workers) and nothing else.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import REPO

from dropout_layers_higgs.synthetic import write_toy_higgs

ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]")')
psutil = pytest.importorskip("psutil", reason="psutil comes with Ray")

SCRIPT = REPO / "scripts" / "train_higgs.py"
RAY = Path(sys.executable).parent / "ray"
# A local test cluster: no token authentication, no usage statistics.
CLUSTER_ENV = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
MEMBERS = ("--folds", "2", "--repeats", "1", "--hidden", "16", "--epochs", "6", "--batch-size",
           "16", "--quiet")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def start_node(arguments, log):
    return subprocess.Popen([str(RAY), "start", "--block", "--num-cpus=1",
                             "--disable-usage-stats", *arguments],
                            stdout=log, stderr=subprocess.STDOUT, env=CLUSTER_ENV,
                            start_new_session=True)


def stop_node(node):
    if node.poll() is not None:
        return
    os.killpg(node.pid, signal.SIGTERM)
    try:
        node.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(node.pid, signal.SIGKILL)
        node.wait(timeout=10)


def alive_nodes(port):
    proc = subprocess.run([sys.executable, "-c",
                           "import ray, sys\n"
                           f"ray.init(address='127.0.0.1:{port}', logging_level='ERROR')\n"
                           "print(sum(node['Alive'] for node in ray.nodes()))\n"],
                          capture_output=True, text=True, env=CLUSTER_ENV, timeout=60)
    return int(proc.stdout.strip() or 0)


@pytest.fixture
def two_node_cluster(tmp_path):
    """Yields (address, worker node process); stops both nodes afterwards."""
    port = free_port()
    worker_ports = free_port()
    # Ray's socket paths must stay under 108 bytes: a short directory of our own.
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    log = open(tmp_path / "ray.log", "w")
    head = start_node(["--head", f"--port={port}", "--include-dashboard=false",
                       f"--temp-dir={temp / 'head'}"], log)
    worker = None
    try:
        wait_for(lambda: head.poll() is not None or
                 socket.socket().connect_ex(("127.0.0.1", port)) == 0, 60, "the head")
        assert head.poll() is None, (tmp_path / "ray.log").read_text()[-2000:]
        worker = start_node([f"--address=127.0.0.1:{port}", f"--temp-dir={temp / 'worker'}",
                             f"--min-worker-port={worker_ports}",
                             f"--max-worker-port={worker_ports + 20}"], log)
        wait_for(lambda: worker.poll() is not None or alive_nodes(port) == 2, 60,
                 "the worker node to join")
        assert worker.poll() is None, (tmp_path / "ray.log").read_text()[-2000:]
        yield f"127.0.0.1:{port}", worker
    finally:
        for node in (worker, head):
            if node is not None:
                stop_node(node)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def member_tasks(node):
    """Processes of members (Ray's ``_run_one`` tasks) running on ``node``."""
    try:
        children = psutil.Process(node.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "_run_one" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def member_parameters(out):
    members = {}
    for path in sorted((out / "members").glob("member_*.h5")):
        with h5py.File(path, "r") as h5file:
            members[path.name] = {name: h5file["params"][name][()] for name in
                                  _datasets(h5file["params"])}
    return members


def _datasets(group, prefix=""):
    names = []
    for key, item in group.items():
        if isinstance(item, h5py.Dataset):
            names.append(prefix + key)
        else:
            names += _datasets(item, prefix + key + "/")
    return names


@pytest.mark.slow
def test_members_survive_a_lost_worker_node_unchanged(two_node_cluster, tmp_path):
    address, worker = two_node_cluster
    toy = tmp_path / "toy.csv"
    write_toy_higgs(toy, n_events=2000, seed=8)
    faulty = tmp_path / "faulty"
    run = subprocess.Popen([sys.executable, str(SCRIPT), "--data", str(toy), "--out", str(faulty),
                            *MEMBERS, "--executor", "ray", "--ray-address", address],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=CLUSTER_ENV, cwd=tmp_path)
    try:
        wait_for(lambda: member_tasks(worker) or run.poll() is not None, 90,
                 "a member to start on the worker node")
        assert run.poll() is None, run.communicate()
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        stdout, stderr = run.communicate(timeout=180)
    finally:
        run.kill()
    assert run.returncode == 0, stderr
    clean = tmp_path / "clean"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--data", str(toy), "--out", str(clean),
                           *MEMBERS, "--executor", "local"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr
    with_fault, without = member_parameters(faulty), member_parameters(clean)
    assert sorted(with_fault) == sorted(without) == ["member_000.h5", "member_001.h5"]
    for name, parameters in without.items():
        assert sorted(with_fault[name]) == sorted(parameters)
        for key, value in parameters.items():
            np.testing.assert_array_equal(with_fault[name][key], value, err_msg=f"{name} {key}")


def test_a_dead_ray_address_fails_in_one_line_within_seconds(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPT), *MEMBERS, "--executor", "ray",
                           "--ray-address", address, "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert time.monotonic() - started < 30  # the interpreter's imports take most of it
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"train_higgs.py: error: --ray-address {address}: no Ray "
                                  "cluster answers at ")
    assert proc.stderr.count("\n") == 1
