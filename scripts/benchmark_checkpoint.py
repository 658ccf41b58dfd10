#!/usr/bin/env python
"""Time checkpoint saves and loads and measure file sizes for each storage option.

The network is the Higgs MLP ``30-600-600-600-1`` (ReLU, dropout 0.5 after
each hidden layer, sigmoid output; 740,401 float32 parameters), saved

* alone (what a deployed model needs), and
* with the Adam state (two accumulators per parameter and the step
  counter), the RNG streams and a 100-epoch history (what a training
  checkpoint for ``resume_from`` holds),

uncompressed, with gzip, with lzf, and with float16 weights. The weights
are perturbed by a few Adam steps' worth of noise so that they are not the
initializer's exact output. Each figure is the median of ``--repeats``
runs; ``load`` is :func:`load_checkpoint` (checking the size and SHA-256,
auditing the file's objects, checking the architecture, rebuilding the
network; no compilation) and ``load_params`` loads the weights into a
network built in code.

Example::

    python scripts/benchmark_checkpoint.py
    python scripts/benchmark_checkpoint.py --repeats 20 --dir /dev/shm --json checkpoint_bench.json
"""
import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    import dropout_layers as dl
    from dropout_layers import updates
    from dropout_layers.checkpoint import load_checkpoint, load_params, save_checkpoint
except ModuleNotFoundError as exc:
    sys.exit(f"benchmark_checkpoint.py: error: {exc.name} is not installed; run pip install -e . "
             "in the repository first")


def build_network(n_inputs=30, hidden=(600, 600, 600), p=0.5):
    """The Higgs MLP, with the layer names of ``models.higgs.build_higgs_mlp``."""
    layer = dl.InputLayer((None, n_inputs), name="input")
    for i, units in enumerate(hidden, start=1):
        layer = dl.ReLUDenseLayer(layer, units, name=f"hidden{i}")
        layer = dl.SwitchDropoutLayer(layer, p=p, name=f"dropout{i}")
    return dl.DenseLayer(layer, 1, nonlinearity=dl.nonlinearities.sigmoid, name="output")


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10,
                        help="runs per figure (default %(default)s)")
    parser.add_argument("--dir", help="where to write the files (default: a temporary directory)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    dl.set_rng(np.random.RandomState(0))
    network = build_network()
    rng = np.random.default_rng(1)
    for param in dl.get_all_params(network):
        value = param.get_value()
        param.set_value((value + rng.normal(0, 1e-3, value.shape)).astype(value.dtype))
    rule = updates.adam(dl.get_output(network).mean(), dl.get_all_params(network, trainable=True))
    rule.state.set_values({
        name: (rng.standard_normal(v.shape) * 1e-3).astype(v.dtype) if v.ndim else v + 500
        for name, v in rule.state.get_values().items()})
    history = [{"epoch": e, "train_loss": float(rng.random()), "valid_loss": float(rng.random()),
                "valid_auc": float(rng.random()), "seconds": 3.0} for e in range(1, 101)]
    code_built = build_network()

    options = [("none", {}), ("gzip", {"compression": "gzip"}), ("lzf", {"compression": "lzf"}),
               ("float16", {"weights_dtype": "float16"}),
               ("float16+gzip", {"weights_dtype": "float16", "compression": "gzip"})]
    contents = [("network", {}), ("training", {"optimizer": rule, "history": history})]
    results = []
    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        for content, extra in contents:
            for label, kwargs in options:
                path = os.path.join(directory, f"{content}_{label}.h5")
                save = lambda: save_checkpoint(path, network, **kwargs, **extra)  # noqa: E731
                save_s = median_seconds(save, args.repeats)
                load_s = median_seconds(lambda: load_checkpoint(path), args.repeats)
                params_s = median_seconds(lambda: load_params(code_built, path), args.repeats)
                results.append({"content": content, "storage": label,
                                "bytes": os.path.getsize(path), "save_ms": save_s * 1e3,
                                "load_ms": load_s * 1e3, "load_params_ms": params_s * 1e3})

    n_params = dl.count_params(network)
    print(f"30-600-600-600-1 MLP, {n_params:,} float32 parameters "
          f"({n_params * 4 / 1e6:.2f} MB raw); "
          f"median of {args.repeats} runs; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, files in {args.dir or tempfile.gettempdir()}")
    print(f"{'content':<9} {'storage':<13} {'size (MB)':>9} {'save (ms)':>9} {'load (ms)':>9} "
          f"{'load_params (ms)':>16}")
    for r in results:
        print(f"{r['content']:<9} {r['storage']:<13} {r['bytes'] / 1e6:>9.3f} {r['save_ms']:>9.1f} "
              f"{r['load_ms']:>9.1f} {r['load_params_ms']:>16.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"n_params": n_params, "repeats": args.repeats,
                                               "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
