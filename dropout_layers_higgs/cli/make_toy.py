"""Write a synthetic Higgs data set in the Kaggle ``training.csv`` schema.

The events come from :func:`dropout_layers_higgs.synthetic.generate_toy_higgs`
(see that module for the physics model): signal H -> tau tau against
Z -> tau tau, W + jets and ttbar backgrounds, with the challenge's 30
features, -999 for undefined values, weights summing to the Kaggle training
totals and EventIds from 100000. ``--test`` writes the ``test.csv`` schema
instead (no ``Weight`` and ``Label`` columns). A name ending in ``.gz`` is
gzip-compressed.

Example::

    python scripts/make_toy_higgs.py toy.csv
    python scripts/make_toy_higgs.py toy_training.csv --events 250000 --seed 1
    python scripts/make_toy_higgs.py toy_test.csv --events 50000 --seed 2 --test
    python scripts/make_toy_higgs.py sig.csv --only signal
    python scripts/make_toy_higgs.py bg.csv --only background

The output file may also be given as ``--out FILE``. ``--only signal`` and
``--only background`` keep one class of the sample: the two files of one
``--events`` and ``--seed`` split one sample, with disjoint EventIds, so that
``train_higgs.py --data sig.csv bg.csv`` reads them as the challenge's
events, the way signal and background simulations often arrive.
"""
import functools
import time
from pathlib import Path

from ..data import write_kaggle_csv
from ..synthetic import generate_toy_higgs, write_toy_higgs
from .common import OneLineParser, UsageError, reporting_full_disk, run_main


def parse_args(argv=None, prog="make-toy-higgs"):
    """Parse and check the command line."""
    parser = OneLineParser(
        prog=prog, description="Write synthetic Higgs challenge events as a Kaggle-format CSV "
                               "file.")
    parser.add_argument("path", nargs="?", metavar="FILE",
                        help="output file (.csv, or .csv.gz for gzip)")
    parser.add_argument("--out", metavar="FILE", help="the output file, as an option")
    parser.add_argument("--events", type=int, default=100_000,
                        help="number of events (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--signal-fraction", type=float, default=0.34,
                        help="fraction of signal events (default: %(default)s)")
    parser.add_argument("--test", action="store_true",
                        help="write the test.csv schema, without Weight and Label")
    parser.add_argument("--only", choices=("signal", "background"),
                        help="write only the signal (or background) events of the sample")
    args = parser.parse_args(argv)
    if args.path and args.out and args.path != args.out:
        parser.error(f"two output files given: {args.path} and --out {args.out}")
    args.out = args.out or args.path
    if not args.out:
        parser.error("the output FILE is required, for example: make_toy_higgs.py toy.csv")
    if args.events < 2:
        parser.error(f"--events must be at least 2, got {args.events}")
    if not 0 < args.signal_fraction < 1:
        parser.error(f"--signal-fraction must be in (0, 1), got {args.signal_fraction}")
    if not Path(args.out).resolve().parent.is_dir():
        raise UsageError(f"{args.out}: directory {Path(args.out).resolve().parent} does not "
                         "exist")
    return args


def _write(args):
    if args.only is None:
        return write_toy_higgs(args.out, n_events=args.events, seed=args.seed,
                               signal_fraction=args.signal_fraction, test=args.test)
    data = generate_toy_higgs(args.events, seed=args.seed, signal_fraction=args.signal_fraction)
    data = data.subset(data.y == (1 if args.only == "signal" else 0))
    if args.test:
        write_kaggle_csv(args.out, data.event_ids, data.X)
    else:
        write_kaggle_csv(args.out, data.event_ids, data.X, data.weights, data.y)
    return data


def main(argv=None, prog="make-toy-higgs"):
    """Write the events as the options say."""
    args = parse_args(argv, prog)
    start = time.perf_counter()
    with reporting_full_disk(Path(args.out).resolve().parent):
        data = _write(args)
    schema = "test.csv" if args.test else "training.csv"
    print(f"wrote {data.n_events} events ({int(data.y.sum())} signal) in the Kaggle {schema} "
          f"schema to {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


def run(argv=None, prog="make-toy-higgs"):
    """Run :func:`main`, turning expected errors into one line on stderr."""
    return run_main(functools.partial(main, prog=prog), prog, argv)
