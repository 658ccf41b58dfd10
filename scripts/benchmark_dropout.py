#!/usr/bin/env python
"""Benchmark dropout training and prediction throughput against no dropout and PyTorch.

All variants run in one process on the same data, thread count and dtype
(float32): an MLP ``inputs-hidden...-1`` with ReLU, dropout after each hidden
layer, trained with plain SGD on binary cross-entropy.

Variants
    ``none``               PyTensor, no dropout
    ``switch+uniform``     SwitchDropoutLayer, float32-uniform mask
    ``multiply+uniform``   DropoutLayer, float32-uniform mask
    ``switch+bits``        SwitchDropoutLayer, raw-bit mask (the default)
    ``multiply+bits``      DropoutLayer, raw-bit mask
    ``none+maximum``       as ``none`` with ReLU as ``maximum(x, 0)``  (only with --variants)
    ``torch none``         PyTorch, no dropout           (if torch is installed)
    ``torch dropout``      PyTorch ``nn.Dropout(p)``      (if torch is installed)

Training throughput is the median over ``--epochs`` epochs of samples per
second, after a warm-up. Each epoch is cut into ``--chunks`` slices and the
variants take turns slice by slice, in an order that rotates, with NumPy's sgemm on the same matrix
products as a training step timed in every turn too, so that the machine's
speed, which drifts by tens of percent within seconds on a shared host, hits
every variant and the sgemm bound alike. Ratios are taken within each epoch
and their median is reported. The script also measures the
training throughput bound (sgemm), deterministic prediction throughput and Monte-Carlo
dropout prediction throughput (stochastic forward passes), and the peak
resident memory.

``--shared-p`` gives the dropout layers ``p`` as a shared variable, as an
annealing schedule would (the bit mask then takes its threshold at run time).
``--mode JAX`` (or ``PYTORCH``) compiles the PyTensor variants for that
backend instead of PyTensor's default (Numba), so the same comparison runs on
JAX (CPU here, or a GPU where jax has one) and on PyTorch.

Example::

    python scripts/benchmark_dropout.py --json benchmark.json --plot benchmark.png
    python scripts/benchmark_dropout.py --rows 20000 --epochs 2   # quick check
    python scripts/benchmark_dropout.py --mode JAX --no-torch --rows 20000 --epochs 2
"""
import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from pathlib import Path

from benchmark_dropout_report import (
    TARGETS,
    add_ratios,
    goal_ratios,
    plot,
    print_goals,
    print_table,
    variant_rows,
)

#: PyTensor compilation modes the PyTensor variants can use (None: PyTensor's default).
MODES = ("NUMBA", "JAX", "PYTORCH")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", default="600,600,600",
                        help="hidden layer sizes, comma-separated")
    parser.add_argument("--inputs", type=int, default=30, help="number of input features")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--p", type=float, default=0.5, help="dropout probability")
    parser.add_argument("--rows", type=int, default=250_000, help="training rows per epoch")
    parser.add_argument("--epochs", type=int, default=3,
                        help="timed epochs per variant (the median is reported)")
    parser.add_argument("--chunks", type=int, default=8,
                        help="slices per epoch in which the variants take turns "
                             "(default %(default)s)")
    parser.add_argument("--warmup-batches", type=int, default=100,
                        help="untimed batches per variant before timing")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for BLAS and PyTorch")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--mc-passes", type=int, default=20,
                        help="stochastic passes per batch for MC dropout")
    parser.add_argument("--predict-rows", type=int, default=50_000,
                        help="rows for the prediction benchmarks")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch variants")
    parser.add_argument("--variants", default=None,
                        help="comma-separated subset of variants to run (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--plot", type=Path, default=None,
                        help="write a bar chart PNG here (needs matplotlib)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shared-p", action="store_true",
                        help="give the dropout layers p as a shared variable (run-time threshold)")
    parser.add_argument("--mode", type=str.upper, choices=MODES, default=None,
                        help="PyTensor backend of the PyTensor variants "
                             "(default: PyTensor's own, Numba)")
    args = parser.parse_args(argv)
    try:
        args.hidden = [int(h) for h in args.hidden.split(",") if h.strip()]
    except ValueError:
        parser.error(f"--hidden must be comma-separated integers, got {args.hidden!r}")
    if not args.hidden or min(args.hidden) <= 0:
        parser.error(f"--hidden needs at least one positive size, got {args.hidden}")
    if not 0.0 <= args.p < 1.0:
        parser.error(f"--p must be in [0, 1), got {args.p}")
    if args.rows < args.batch_size:
        parser.error(f"--rows ({args.rows}) must be at least --batch-size ({args.batch_size})")
    if min(args.epochs, args.threads, args.batch_size, args.chunks) < 1:
        parser.error("--epochs, --chunks, --threads and --batch-size must be positive")
    return args


def limit_threads(threads):
    # OpenBLAS (NumPy's and SciPy's, which Numba calls) reads these when first
    # loaded, so they must be set before NumPy is imported.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def peak_rss_mb():
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def layer_sizes(args):
    sizes = [args.inputs] + args.hidden + [1]
    return list(zip(sizes[:-1], sizes[1:]))


def train_flop_per_sample(args):
    """FLOP of one training step per sample: forward 2*sum(in*out), backward twice that."""
    return 3 * 2 * sum(n_in * n_out for n_in, n_out in layer_sizes(args))


def sgemm_step(args):
    """Return a function running NumPy's sgemm on one training step's products, and their FLOP."""
    import numpy as np

    rng = np.random.default_rng(0)
    bs = args.batch_size
    products = []
    for n_in, n_out in layer_sizes(args):
        x = rng.standard_normal((bs, n_in), dtype=np.float32)
        w = rng.standard_normal((n_in, n_out), dtype=np.float32)
        g = rng.standard_normal((bs, n_out), dtype=np.float32)
        products += [(x, w), (x.T, g), (g, w.T)]  # forward, weight gradient, input gradient
    outs = [np.empty((a.shape[0], b.shape[1]), np.float32) for a, b in products]
    flop = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in products)

    def step():
        for (a, b), out in zip(products, outs):
            np.matmul(a, b, out=out)

    return step, flop


def measure_sgemm(args, repeats=7):
    """GFLOP/s of NumPy's sgemm on exactly the products of one training step."""
    step, flop = sgemm_step(args)
    reps = 50
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(reps):
            step()
        times.append((time.perf_counter() - start) / reps)
    seconds = statistics.median(times)
    return {"gflops": flop / seconds / 1e9, "step_seconds": seconds, "flop_per_step": flop}


# --------------------------------------------------------------------------- PyTensor


def maximum_rectify(x):
    """ReLU as ``maximum(x, 0)``, the form the library's ``rectify`` replaced."""
    import pytensor.tensor as pt

    return pt.maximum(x, 0)


def compile_quietly(compile_fn, *args, **kwargs):
    """Compile, hiding the notices the JAX and PyTorch backends give on every graph.

    PyTensor's JAX linker says that it copies the RNG streams (the copies
    advance, which is all a benchmark needs), and torch deprecates an API it
    uses on import and warns once about read-only constants.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*will not be used in the compiled JAX graph",
                                UserWarning)
        warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
        warnings.filterwarnings("ignore", ".*torch.jit.script_method", DeprecationWarning)
        return compile_fn(*args, **kwargs)


def build_pytensor_variant(args, dropout, method, rectifier=None):
    """Compile train, deterministic and stochastic predict functions for one variant."""
    import numpy as np
    import pytensor
    import pytensor.tensor as pt

    import dropout_layers as dl
    from dropout_layers import masks, objectives, updates
    from dropout_layers.layers import (
        DenseLayer,
        DropoutLayer,
        InputLayer,
        SwitchDropoutLayer,
        get_all_params,
        get_output,
    )
    from dropout_layers.nonlinearities import rectify

    dl.set_rng(np.random.RandomState(args.seed))
    dropout_class = {"switch": SwitchDropoutLayer, "multiply": DropoutLayer}.get(dropout)
    # A shared p (--shared-p) is what an annealed rate looks like: the mask
    # takes its threshold at run time.
    p = pytensor.shared(np.float32(args.p), name="p") if args.shared_p else args.p
    network = InputLayer((None, args.inputs))
    input_var = network.input_var
    for units in args.hidden:
        network = DenseLayer(network, units, nonlinearity=rectifier or rectify)
        if dropout_class is not None:
            network = dropout_class(network, p=p)
    network = DenseLayer(network, 1, nonlinearity=None)
    target_var = pt.matrix("targets", dtype="float32")

    with masks.default_method(method or masks.get_default_method()):
        logits = get_output(network)
        mc_logits = get_output(network)
    # The mean over a batch of known size, as a sum: a mean would need the
    # batch's shape, and the shape check PyTensor adds for it is one that
    # JAX skips with a warning and PyTorch cannot run.
    losses = objectives.binary_crossentropy(logits, target_var, from_logits=True)
    loss = objectives.aggregate(losses, mode="sum") * np.float32(1 / args.batch_size)
    params = get_all_params(network, trainable=True)
    sgd_updates = updates.sgd(loss, params, learning_rate=args.learning_rate)

    start = time.perf_counter()
    mode = args.mode
    train_fn = compile_quietly(pytensor.function, [input_var, target_var], loss,
                               updates=sgd_updates, mode=mode)
    predict_fn = compile_quietly(pytensor.function, [input_var],
                                 pt.sigmoid(get_output(network, deterministic=True)), mode=mode)
    mc_fn = None
    if dropout_class is not None:
        mc_fn = compile_quietly(dl.function, [input_var], pt.sigmoid(mc_logits), mode=mode)
    compile_seconds = time.perf_counter() - start
    return {"train": train_fn, "predict": predict_fn, "mc": mc_fn,
            "compile_seconds": compile_seconds}


# --------------------------------------------------------------------------- PyTorch


def build_torch_variant(args, dropout):
    import torch

    torch.manual_seed(args.seed)
    modules = []
    n_in = args.inputs
    for units in args.hidden:
        modules += [torch.nn.Linear(n_in, units), torch.nn.ReLU()]
        if dropout:
            modules.append(torch.nn.Dropout(args.p))
        n_in = units
    modules.append(torch.nn.Linear(n_in, 1))
    model = torch.nn.Sequential(*modules).float()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.learning_rate)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def train(x, y):
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    def predict(x):
        model.eval()
        with torch.no_grad():
            return torch.sigmoid(model(x))

    def mc(x):
        model.train()
        with torch.no_grad():
            return torch.sigmoid(model(x))

    return {"train": train, "predict": predict, "mc": mc if dropout else None,
            "compile_seconds": 0.0}


# --------------------------------------------------------------------------- timing


def wait_for(result):
    """Return once ``result`` is computed: JAX returns from a call before its work is done."""
    block = getattr(result, "block_until_ready", None)
    if block is not None:
        block()


def run_epoch(train, batches):
    # Each step reads the parameters the previous one wrote, so the last step's loss is
    # ready only when every step of the slice is: its work is charged to this slice, not
    # to whoever runs next.
    start = time.perf_counter()
    loss = None
    for x, y in batches:
        loss = train(x, y)
    wait_for(loss)
    return time.perf_counter() - start


def interleaved_epoch(variants, n_batches, chunks, sgemm):
    """Seconds per variant for one epoch, and sgemm's GFLOP/s, taking turns slice by slice.

    Slices of a second or so keep every variant, and the sgemm reference, on
    the same stretch of the machine's speed. The order of the turns rotates
    from slice to slice: whoever runs right after PyTorch shares the cores
    with its OpenMP threads, which spin for a while after their work, and
    rotating spreads that cost over everyone.
    """
    step, flop = sgemm
    edges = [round(i * n_batches / chunks) for i in range(chunks + 1)]
    runners = [(name, variant["train"], variant["batches"]) for name, variant in variants.items()]
    runners.append(("sgemm", None, None))
    seconds = dict.fromkeys([name for name, _, _ in runners], 0.0)
    for turn, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        shift = turn % len(runners)
        for name, train, batches in runners[shift:] + runners[:shift]:
            if train is None:
                start = time.perf_counter()
                for _ in range(hi - lo):
                    step()
                seconds[name] += time.perf_counter() - start
            else:
                seconds[name] += run_epoch(train, batches[lo:hi])
    sgemm_seconds = seconds.pop("sgemm")
    return seconds, flop * n_batches / sgemm_seconds / 1e9


def time_prediction(fn, batches, passes=1, repeats=3):
    """Median samples/s of ``passes`` forward passes over every batch."""
    n = sum(len(x) for x in batches) * passes
    fn(batches[0])
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        outputs = [fn(x) for x in batches for _ in range(passes)]
        for output in outputs:
            wait_for(output)
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


def main(argv=None):
    args = parse_args(argv)
    args.load_at_start = os.getloadavg()[0]
    limit_threads(args.threads)
    # Imported only now, after limit_threads: NumPy's BLAS reads the thread
    # variables when it loads.
    import pytensor

    torch = import_torch(args)
    data = make_data(args)
    specs = variant_specs(args, torch)
    print_header(args, data, pytensor.config.linker)
    sgemm_before = measure_sgemm(args)
    variants = build_variants(args, specs, data, torch)
    sgemm_rounds = time_training(args, variants, data)
    time_predictions(args, variants)
    sgemm_after = measure_sgemm(args)

    sgemm_all = [sgemm_before["gflops"], *sgemm_rounds, sgemm_after["gflops"]]
    flop_per_sample = train_flop_per_sample(args)
    results = report(args, variants, sgemm_rounds, flop_per_sample, sgemm_all)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        plot(results, args.plot)
    return results


def import_torch(args):
    """Return PyTorch, on ``--threads`` threads, or None (not installed, or ``--no-torch``)."""
    try:
        import torch
    except ImportError:
        torch = None
    if args.no_torch:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
    return torch


@dataclasses.dataclass
class BenchmarkData:
    """The random batches every variant trains and predicts on (NumPy, float32)."""

    train: list
    predict: list
    mc: list
    n_samples: int


def make_data(args):
    """Draw ``--rows`` training rows (whole batches) and the prediction batches from them."""
    import numpy as np

    rng = np.random.default_rng(args.seed)
    n_batches = args.rows // args.batch_size
    bs = args.batch_size
    x_all = rng.standard_normal((n_batches * bs, args.inputs), dtype=np.float32)
    y_all = (rng.random((n_batches * bs, 1)) < 0.5).astype(np.float32)
    np_batches = [(x_all[i * bs:(i + 1) * bs], y_all[i * bs:(i + 1) * bs])
                  for i in range(n_batches)]
    n_predict = max(1, min(args.predict_rows, n_batches * bs) // bs)
    np_predict = [x for x, _ in np_batches[:n_predict]]
    mc_predict = np_predict[: max(1, n_predict // args.mc_passes)]
    return BenchmarkData(train=np_batches, predict=np_predict, mc=mc_predict,
                         n_samples=n_batches * bs)


def variant_specs(args, torch):
    """Return ``(name, backend, dropout, method)`` of each variant to run."""
    specs = [
        ("none", "pytensor", None, None),
        ("switch+uniform", "pytensor", "switch", "uniform"),
        ("multiply+uniform", "pytensor", "multiply", "uniform"),
        ("switch+bits", "pytensor", "switch", "bits"),
        ("multiply+bits", "pytensor", "multiply", "bits"),
    ]
    if torch is not None:
        specs += [("torch none", "torch", None, None), ("torch dropout", "torch", "dropout", None)]
    else:
        print("PyTorch is not installed: skipping the PyTorch variants (pip install torch==2.13.0)")
    # Only on request (--variants): the rectifier written as maximum(x, 0),
    # against which the library's switch-based rectify was chosen.
    extra_specs = [("none+maximum", "pytensor", None, None)]
    if args.variants:
        specs += extra_specs
        wanted = [v.strip() for v in args.variants.split(",")]
        unknown = set(wanted) - {s[0] for s in specs}
        if unknown:
            raise SystemExit(f"unknown variants {sorted(unknown)}; "
                             f"choose from {[s[0] for s in specs]}")
        specs = [s for s in specs if s[0] in wanted]
    return specs


def print_header(args, data, linker):
    """Say what is measured, and warn when the machine is busy from the start."""
    layout = "-".join(str(s) for s in [args.inputs] + args.hidden + [1])
    print(f"network {layout}, batch {args.batch_size}, p={args.p}, "
          f"{data.n_samples} rows, {args.threads} threads, float32, PyTensor "
          f"{'mode ' + args.mode if args.mode else 'linker ' + linker}, "
          f"{platform.processor() or platform.machine()}")
    if args.load_at_start > 0.5:
        print(f"warning: load average {args.load_at_start:.2f} before the start: other "
              "processes are "
              "running, and the timings will be noisy")


def build_variants(args, specs, data, torch):
    """Compile and warm up every variant; return them by name with their batches."""
    variants = {}
    for name, backend, dropout, method in specs:
        rss_before = peak_rss_mb()
        if backend == "pytensor":
            rectifier = maximum_rectify if name == "none+maximum" else None
            variant = build_pytensor_variant(args, dropout, method, rectifier)
            batches = data.train
            predict_batches, mc_batches = data.predict, data.mc
        else:
            variant = build_torch_variant(args, dropout)
            batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in data.train]
            predict_batches = [torch.from_numpy(x) for x in data.predict]
            mc_batches = [torch.from_numpy(x) for x in data.mc]
        warmup = [batches[i % len(batches)] for i in range(args.warmup_batches)]
        run_epoch(variant["train"], warmup)
        variant.update(batches=batches, predict_batches=predict_batches, mc_batches=mc_batches,
                       epoch_rates=[], backend=backend, dropout=dropout, method=method,
                       rss_increase_mb=peak_rss_mb() - rss_before)
        variants[name] = variant
        print(f"  built {name:<16} (compile {variant['compile_seconds']:.1f} s)", flush=True)
    return variants


def time_training(args, variants, data):
    """Time ``--epochs`` interleaved epochs; return sgemm's GFLOP/s in each."""
    sgemm = sgemm_step(args)
    sgemm_rounds = []
    for epoch in range(args.epochs):
        seconds, gflops_round = interleaved_epoch(variants, len(data.train), args.chunks, sgemm)
        for name, variant in variants.items():
            variant["epoch_rates"].append(data.n_samples / seconds[name])
        sgemm_rounds.append(gflops_round)
        print(f"  epoch {epoch + 1}/{args.epochs}: " + ", ".join(
            f"{name} {v['epoch_rates'][-1]:,.0f}" for name, v in variants.items())
            + f"; sgemm {sgemm_rounds[-1]:.0f} GFLOP/s", flush=True)
    return sgemm_rounds


def time_predictions(args, variants):
    """Add each variant's deterministic and MC-dropout prediction rates."""
    for variant in variants.values():
        variant["predict_rate"] = time_prediction(variant["predict"], variant["predict_batches"])
        if variant["mc"] is not None:
            variant["mc_rate"] = time_prediction(variant["mc"], variant["mc_batches"],
                                                 passes=args.mc_passes)


def report(args, variants, sgemm_rounds, flop_per_sample, sgemm_all):
    gflops = statistics.median(sgemm_rounds)
    bound = gflops * 1e9 / flop_per_sample
    bound_rounds = [g * 1e9 / flop_per_sample for g in sgemm_rounds]
    rows = variant_rows(variants)
    add_ratios(rows, bound_rounds)
    print_table(rows)
    goals = goal_ratios(rows, bound_rounds)
    print_goals(goals, gflops, sgemm_rounds, sgemm_all, flop_per_sample, bound)
    print(f"peak RSS {peak_rss_mb():.0f} MiB")
    return {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                   if k != "load_at_start"},
        "sgemm_gflops": gflops,
        "sgemm_gflops_measurements": sgemm_all,
        "train_flop_per_sample": flop_per_sample,
        "sgemm_bound_samples_per_s": bound,
        "variants": rows,
        "ratios": goals,
        "targets": TARGETS,
        "peak_rss_mb": peak_rss_mb(),
        "load_average_at_start": args.load_at_start,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
