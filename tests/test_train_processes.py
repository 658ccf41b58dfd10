"""How many worker processes a bag of train-higgs uses when --max-concurrent is not given."""
import os

import pytest

from dropout_layers.threads import usable_cpus
from dropout_layers_higgs.cli import train_modes
from dropout_layers_higgs.cli.train_args import build_parser, parse_args, pipeline_options


def _args(*argv):
    return parse_args(build_parser("train-higgs"), list(argv))


@pytest.fixture
def cpus(monkeypatch):
    """Pretend the process may run on ``n`` CPUs."""
    def pretend(n):
        monkeypatch.setattr(train_modes, "usable_cpus", lambda: n)
    return pretend


@pytest.mark.parametrize("n_cpus, argv, members, processes", [
    (2, (), 5, 2),                                 # one network per CPU
    (16, (), 5, 5),                                # never more than the networks
    (1, (), 5, 1),                                 # one CPU: in this process
    (8, ("--threads", "4"), 5, 2),                 # each network's threads count
    (8, ("--cpus-per-member", "3"), 10, 2),
    (3, ("--threads", "4"), 5, 1),                 # at least one
    (2, ("--max-concurrent", "1"), 5, 1),          # asked for: one after another here
    (2, ("--max-concurrent", "4"), 5, 4),          # asked for, even above the CPUs
])
def test_one_process_per_free_cpu_unless_asked(cpus, n_cpus, argv, members, processes):
    cpus(n_cpus)
    args = _args(*argv)
    assert train_modes.local_processes(args, members) == processes
    settings = train_modes.executor_settings(args, members)
    assert settings.local_workers == processes


def test_ray_ignores_the_local_processes(cpus):
    cpus(8)
    assert train_modes.executor_settings(_args("--executor", "ray"), 5).processes == 1


def test_the_banner_says_how_many_processes(cpus, tmp_path):
    class RunDir:
        path = tmp_path
    cpus(2)
    args = _args("--folds", "5")
    options = pipeline_options(args)
    assert " in 2 processes" in train_modes.bag_banner(args, options, RunDir())
    cpus(1)
    assert "processes" not in train_modes.bag_banner(args, options, RunDir())


def test_usable_cpus_is_the_affinity_mask(monkeypatch):
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this system")
    assert usable_cpus() == len(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity")
    assert usable_cpus() == max(1, os.cpu_count() or 1)
