"""Hyper-parameter search for the Higgs network with Ray Tune.

:func:`run_search` samples ``n_trials`` configurations of the hidden-layer
dropout rate, the width of the hidden layers and the learning rate, and
trains each as a single-network run of
:func:`~dropout_layers_higgs.pipeline.run_pipeline` would: on the training
part of :func:`~dropout_layers_higgs.splits.split_events`, early-stopped on
the validation part, with the run's seed. Every trial reports its validation
figure (see :func:`~dropout_layers_higgs.splits.default_monitor`) to Tune
after each epoch, and an ASHA scheduler stops the trials that trail the
others at the same epoch.

All trials share one split and one seed, so they differ only in their
configuration; ``scripts/train_higgs.py --hidden ... --dropout ...
--learning-rate ...`` (see :func:`retrain_command`) then trains the
winner's configuration as the default run does (a bag of such networks),
and scores it on held-out test events that no trial has seen.

Ray Tune is an optional dependency: ``pip install -e ".[ray]"``.
"""
import csv
import dataclasses
import math
import shlex
import time
from pathlib import Path

from dropout_layers.executors import ExecutorError, environment_variables, ray_session
from dropout_layers.files import atomic_path, write_json
from dropout_layers.threads import thread_env
from dropout_layers.training import Callback

from .errors import SearchError
from .member import history_key, train_member
from .shipping import worker_code
from .splits import default_monitor, split_events

__all__ = ["TUNE_INSTALL_HINT", "DROPOUT_RANGE", "WIDTH_CHOICES", "LEARNING_RATE_RANGE",
           "NESTEROV_LEARNING_RATE_RANGE", "learning_rate_range", "SearchError", "TrialResult",
           "SearchResult", "tune_available", "search_space", "trial_options", "run_search",
           "search_table", "write_search_files", "retrain_command"]

#: How to get the optional Ray Tune dependency.
TUNE_INSTALL_HINT = '--search needs Ray Tune: install it with pip install -e ".[ray]"'

#: The search space: dropout after each hidden layer, uniform in this range.
DROPOUT_RANGE = (0.1, 0.6)
#: Units of every hidden layer, one of these (the challenge winner used 600).
WIDTH_CHOICES = (64, 128, 256, 600)
#: Learning rate of Adam (the default update rule), log-uniform in this range
#: around its default of 1e-3.
LEARNING_RATE_RANGE = (3e-4, 3e-3)
#: Learning rate of Nesterov-momentum SGD, log-uniform in this range
#: (0.05 suits 128 units; 600-unit layers need about 0.01).
NESTEROV_LEARNING_RATE_RANGE = (0.005, 0.2)

# ASHA stops a trial at a rung (grace period, then x reduction factor) when
# it is outside the best 1 / REDUCTION_FACTOR of the trials that got there.
# The validation AMS of the first few epochs ranks networks poorly, hence a
# grace period of a fifth of the epochs rather than Tune's default of one.
GRACE_FRACTION = 0.2
REDUCTION_FACTOR = 3

SEARCH_DIRECTORY = "search"
JSON_NAME = "search.json"
CSV_NAME = "search.csv"


@dataclasses.dataclass
class TrialResult:
    """One row of the search table.

    Attributes
    ----------
    trial : int
        Number of the trial, from 1, in the order its configuration was sampled.
    dropout : float
    hidden : tuple of int
    learning_rate : float
    epochs_run : int
    best_value : float or None
        Best validation figure (``monitor``) of any epoch; None if the
        trial failed before its first epoch ended.
    best_epoch : int or None
    status : {'completed', 'stopped early', 'error'}
        ``'completed'``: trained to the last epoch or to its own early
        stopping (patience); ``'stopped early'``: stopped by ASHA.
    error : str or None
        One line, for a failed trial.
    """

    trial: int
    dropout: float
    hidden: tuple
    learning_rate: float
    epochs_run: int
    best_value: float
    best_epoch: int
    status: str
    error: str = None

    def to_dict(self):
        """Return the row as a JSON-friendly dict (``hidden`` as a list)."""
        return dict(dataclasses.asdict(self), hidden=list(self.hidden))


@dataclasses.dataclass
class SearchResult:
    """What :func:`run_search` found.

    Attributes
    ----------
    trials : list of TrialResult
        Best first; failed trials last.
    monitor : {'ams', 'auc'}
        The validation figure the trials were ranked by.
    seed : int
    options : PipelineOptions
        The options every trial started from.
    tune_dir : Path
        Tune's own record of the experiment.
    seconds : float
    """

    trials: list
    monitor: str
    seed: int
    options: object
    tune_dir: Path
    seconds: float

    @property
    def best(self):
        """The best trial (the first row)."""
        return self.trials[0]


def tune_available():
    """Return True when Ray Tune can be imported."""
    try:
        import ray.tune  # noqa: F401
    except ImportError:
        return False
    return True


def _import_tune():
    try:
        import ray
        from ray import tune
    except ImportError:
        raise ExecutorError(TUNE_INSTALL_HINT) from None
    return ray, tune


def learning_rate_range(update):
    """Return the learning rates the search samples for the update rule ``update``."""
    return NESTEROV_LEARNING_RATE_RANGE if update == "nesterov_momentum" else LEARNING_RATE_RANGE


def search_space(tune, update="adam"):
    """Return the Tune parameter space sampled by every trial.

    Parameters
    ----------
    tune : module
        :mod:`ray.tune`.
    update : str
        The update rule, whose learning rates are sampled
        (:func:`learning_rate_range`).

    Returns
    -------
    dict
        ``dropout``, ``width`` and ``learning_rate`` distributions; see
        :func:`trial_options` for how a sample becomes training options.
    """
    return {"dropout": tune.uniform(*DROPOUT_RANGE),
            "width": tune.choice(list(WIDTH_CHOICES)),
            "learning_rate": tune.loguniform(*learning_rate_range(update))}


def trial_options(options, config):
    """Apply a sampled configuration to ``options``.

    Parameters
    ----------
    options : PipelineOptions
        The base options; the number of hidden layers is kept.
    config : dict
        A sample of :func:`search_space`.

    Returns
    -------
    PipelineOptions

    Notes
    -----
    The dropout rate is rounded to two decimals and the learning rate to
    two significant digits before training, so that the values printed in
    the table and the command line retrain exactly the network the trial
    trained.
    """
    return dataclasses.replace(options, hidden=(int(config["width"]),) * len(options.hidden),
                               dropout=round(float(config["dropout"]), 2),
                               learning_rate=float(f"{float(config['learning_rate']):.2g}"))


class _ReportEachEpoch(Callback):
    """Send each epoch's validation figure to Tune, whose scheduler may stop the trial."""

    def __init__(self, monitor, last_epoch, report):
        self.key = history_key(monitor)
        self.last_epoch = int(last_epoch)
        self.report = report
        self.best_value = None
        self.best_epoch = None

    def on_epoch_end(self, trainer, epoch, record):
        value = record.get(self.key)
        if value is not None and math.isfinite(value) and (
                self.best_value is None or value > self.best_value):
            self.best_value, self.best_epoch = float(value), int(epoch)
        # Runs after the pipeline's EarlyStopping, which has set stop_training
        # if this epoch ends the trial; a trial whose last report lacks the
        # flag was stopped by the scheduler.
        finished = bool(trainer.stop_training) or epoch >= self.last_epoch
        self.report({
            "epoch": int(epoch), self.key: value,
            # ASHA compares the best epoch so far: the trial keeps that
            # epoch's network, and one noisy epoch should not stop it.
            f"best_{self.key}": -math.inf if self.best_value is None else self.best_value,
            "best_epoch": self.best_epoch, "training_finished": finished})


def _run_trial(config, data, train_idx, valid_idx, options, seed):
    """Train one configuration; runs in a Tune worker (a function trainable)."""
    from ray import tune

    options = trial_options(options, config)
    reporter = _ReportEachEpoch(options.monitor or default_monitor(data), options.epochs,
                                tune.report)
    train_member(data, train_idx, valid_idx, options, seed, callbacks=[reporter])


def _progress_callback(tune, base_options, n_trials, monitor, say):
    """Build a Tune callback that says one line per finished trial, as it finishes."""

    class TrialLines(tune.Callback):
        def __init__(self):
            self.done = 0

        def _say(self, trial, outcome):
            self.done += 1
            options = trial_options(base_options, trial.config)
            result = trial.last_result or {}
            best = result.get(f"best_{history_key(monitor)}")
            figure = "-" if best is None or not math.isfinite(best) else f"{best:.4f}"
            epochs = result.get("epoch", 0)
            say(f"{self.done}/{n_trials} trials done: dropout {options.dropout:g}, hidden "
                f"{','.join(map(str, options.hidden))}, learning rate "
                f"{options.learning_rate:g}: best valid {monitor.upper()} {figure} after "
                f"{epochs} epoch{'' if epochs == 1 else 's'} ({outcome})")

        def on_trial_complete(self, iteration, trials, trial, **info):
            finished = (trial.last_result or {}).get("training_finished")
            self._say(trial, "completed" if finished else "stopped early")

        def on_trial_error(self, iteration, trials, trial, **info):
            self._say(trial, "error")

    return TrialLines()


def _trial_result(number, result, base_options, monitor):
    options = trial_options(base_options, result.config)
    metrics = result.metrics or {}
    best = metrics.get(f"best_{history_key(monitor)}")
    status = "completed" if metrics.get("training_finished") else "stopped early"
    error = None
    if result.error is not None:
        # Ray wraps the trial's exception; its own message, on one line, is the useful part.
        status = "error"
        error = " ".join(str(getattr(result.error, "cause", None) or result.error).split())
    return TrialResult(
        trial=number, dropout=options.dropout, hidden=options.hidden,
        learning_rate=options.learning_rate, epochs_run=int(metrics.get("epoch", 0)),
        best_value=best if best is not None and math.isfinite(best) else None,
        best_epoch=metrics.get("best_epoch"), status=status, error=error)


def run_search(data, options, n_trials, out_dir, seed=0, ray_address=None, max_concurrent=None,
               say=None):
    """Sample and train ``n_trials`` configurations with Ray Tune and an ASHA scheduler.

    Parameters
    ----------
    data : HiggsData
        Labelled events.
    options : PipelineOptions
        What every trial starts from: the search replaces ``hidden`` (same
        number of layers, one width for all), ``dropout`` and
        ``learning_rate``; ``epochs`` is the most a trial trains.
    n_trials : int
    out_dir : str or Path
        Tune keeps its record of the experiment under ``out_dir/search/``.
    seed : int
        Seeds the sampling of the configurations (equal seeds sample equal
        configurations), the split and every trial's training.
    ray_address : str, optional
        Ray cluster to run on (``'auto'``, ``'host:6379'`` or
        ``'ray://host:10001'``); by default a local Ray instance is started
        here and shut down afterwards, unless Ray is already initialised.
    max_concurrent : int, optional
        Most trials training at once; by default as many as the CPUs allow
        (each trial asks for one CPU).
    say : callable, optional
        ``say(line)`` is called once per finished trial.

    Returns
    -------
    SearchResult

    Raises
    ------
    ExecutorError
        If Ray Tune is not installed or Ray cannot start.
    SearchError
        If every trial failed.

    Notes
    -----
    Each trial trains with one BLAS thread and asks Tune for one CPU, so
    that concurrent trials do not compete for the cores.
    """
    _, tune = _import_tune()
    started = time.perf_counter()
    options = dataclasses.replace(options, progress=False)
    monitor = options.monitor or default_monitor(data)
    callbacks = [] if say is None else [_progress_callback(tune, options, n_trials, monitor, say)]
    storage = (Path(out_dir) / SEARCH_DIRECTORY).absolute()
    name = time.strftime("%Y%m%d-%H%M%S")
    tuner = tune.Tuner(
        _trainable(tune, data, options, seed), param_space=search_space(tune, options.update),
        tune_config=_tune_config(tune, options, n_trials, monitor, seed, max_concurrent),
        run_config=tune.RunConfig(name=name, storage_path=str(storage), verbose=0,
                                  callbacks=callbacks))
    trials = _ranked_trials(_fit(tuner, ray_address), options, monitor)
    return SearchResult(trials=trials, monitor=monitor, seed=int(seed), options=options,
                        tune_dir=storage / name, seconds=time.perf_counter() - started)


def _trainable(tune, data, options, seed):
    """Return :func:`_run_trial` bound to the run's split and seed, asking for one CPU."""
    train_idx, valid_idx, _ = split_events(data, options, seed)
    return tune.with_resources(
        tune.with_parameters(_run_trial, data=data, train_idx=train_idx, valid_idx=valid_idx,
                             options=options, seed=int(seed)),
        {"cpu": 1})


def _tune_config(tune, options, n_trials, monitor, seed, max_concurrent):
    """Return the sampling (seeded by ``seed``) and the ASHA scheduling of the trials."""
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    epochs = int(options.epochs)
    scheduler = ASHAScheduler(time_attr="training_iteration", max_t=epochs,
                              grace_period=max(1, int(GRACE_FRACTION * epochs)),
                              reduction_factor=REDUCTION_FACTOR)
    return tune.TuneConfig(
        num_samples=int(n_trials), metric=f"best_{history_key(monitor)}", mode="max",
        scheduler=scheduler, search_alg=BasicVariantGenerator(random_state=int(seed)),
        max_concurrent_trials=max_concurrent)


def _fit(tuner, ray_address):
    """Run the trials on Ray; return Tune's result grid."""
    # Tune starts trials as actors with no environment of their own, so the
    # one-thread BLAS limit goes on the whole job. The legacy console output
    # obeys verbose=0; the new one still prints a banner and its experiment
    # paths. Without Tune's own SIGINT handler, Ctrl-C raises
    # KeyboardInterrupt here rather than returning a grid of trials that
    # never ran.
    with ray_session(ray_address, env_vars=thread_env(1), code=worker_code()), \
            environment_variables({"RAY_AIR_NEW_OUTPUT": "0", "TUNE_DISABLE_SIGINT_HANDLER": "1"}):
        return tuner.fit()


def _ranked_trials(grid, options, monitor):
    """Return the trials best first, failed ones last; raise if every trial failed."""
    trials = [_trial_result(number, result, options, monitor)
              for number, result in enumerate(grid, start=1)]
    if all(trial.best_value is None for trial in trials):
        first_error = next((trial.error for trial in trials if trial.error), "no results")
        raise SearchError(f"all {len(trials)} trials failed; the first: {first_error}")
    trials.sort(key=lambda trial: (trial.best_value is None, -(trial.best_value or 0.0)))
    return trials


_COLUMNS = ("rank", "trial", "dropout", "hidden", "learning rate", "epochs", "best valid {}",
            "best epoch", "status")


def _table_rows(result):
    for rank, trial in enumerate(result.trials, start=1):
        yield (str(rank), str(trial.trial), f"{trial.dropout:g}", ",".join(map(str, trial.hidden)),
               f"{trial.learning_rate:g}", str(trial.epochs_run),
               "-" if trial.best_value is None else f"{trial.best_value:.4f}",
               "-" if trial.best_epoch is None else str(trial.best_epoch),
               trial.status + (f": {trial.error}" if trial.error else ""))


def search_table(result):
    """Lay out the trials as a text table, best first.

    Parameters
    ----------
    result : SearchResult

    Returns
    -------
    str
        A header line and one line per trial, without a trailing newline.
    """
    header = [column.format(result.monitor.upper()) for column in _COLUMNS]
    rows = [header, *_table_rows(result)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    # Numbers right-aligned, the hidden sizes and the status (last) left-aligned.
    lines = []
    for row in rows:
        cells = [cell.ljust(width) if column == 3 else cell.rjust(width)
                 for column, (cell, width) in enumerate(zip(row, widths))]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def write_search_files(result, out_dir, command=None, description=None):
    """Write the trials to ``search.json`` and ``search.csv`` in ``out_dir``, atomically.

    Parameters
    ----------
    result : SearchResult
    out_dir : str or Path
    command : str, optional
        The command line that retrains the best configuration (see
        :func:`retrain_command`).
    description : str, optional
        Where the data came from, for people.

    Returns
    -------
    list of Path
        The files written.

    Notes
    -----
    ``search.json`` holds the search space, the scheduler, the options
    the trials started from (``base_options``), the seed, the best trial,
    ``command`` and every trial, best first; ``search.csv`` the same rows,
    one per trial.
    """
    out_dir = Path(out_dir)
    metric = f"best_{history_key(result.monitor)}"
    # The metric is named for what it is (best_valid_auc or best_valid_ams_smoothed).
    rows = [{(metric if key == "best_value" else key): value
             for key, value in trial.to_dict().items()} for trial in result.trials]
    write_json(out_dir / JSON_NAME, {
        "data": description, "monitor": result.monitor, "metric": metric, "seed": result.seed,
        "n_trials": len(result.trials),
        "search_space": {"dropout": {"uniform": list(DROPOUT_RANGE)},
                         "width": {"choice": list(WIDTH_CHOICES),
                                   "layers": len(result.options.hidden)},
                         "learning_rate": {"loguniform": list(learning_rate_range(
                             result.options.update))}},
        "scheduler": {"name": "ASHA", "max_epochs": int(result.options.epochs),
                      "grace_period": max(1, int(GRACE_FRACTION * result.options.epochs)),
                      "reduction_factor": REDUCTION_FACTOR},
        "base_options": result.options.to_dict(), "best": rows[0], "command": command,
        "trials": rows, "tune_dir": str(result.tune_dir), "seconds": result.seconds})
    with atomic_path(out_dir / CSV_NAME) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                writer.writerow(dict(row, hidden=",".join(map(str, row["hidden"]))))
    return [out_dir / JSON_NAME, out_dir / CSV_NAME]


def retrain_command(parser, args, trial, launcher=("python", "scripts/train_higgs.py"),
                    leave_out=("search", "search_max_concurrent", "ray_address")):
    """Build the command line that trains ``trial``'s configuration with the other options.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser ``args`` came from; options left at its defaults are
        not repeated.
    args : argparse.Namespace
    trial : TrialResult
    launcher : sequence of str
        The words that start the training command.
    leave_out : sequence of str
        Destinations of options that only concern the search.

    Returns
    -------
    str
        Shell-quoted, such as ``python scripts/train_higgs.py --data
        training.csv --hidden 256,256,256 --dropout 0.35 --learning-rate
        0.031``. With the search's seed and split it retrains the trial's
        network exactly, and then scores it on the held-out test events.
    """
    chosen = {"hidden": trial.hidden, "dropout": trial.dropout,
              "learning_rate": trial.learning_rate}
    words = list(launcher)
    for name, value in {**vars(args), **chosen}.items():
        if name in leave_out or value is None or value is False:
            continue
        if name not in chosen and value == parser.get_default(name):
            continue
        option = "--" + name.replace("_", "-")
        if value is True:
            words.append(option)
        else:
            words += [option, ",".join(map(str, value)) if isinstance(value, tuple)
                      else str(value)]
    return shlex.join(words)
