"""Bags of dropout networks for the Higgs data: K-fold x R members, locally or on Ray.

The default run of the pipeline is such a bag: the labelled events (less a
held-out test part) are cut into K stratified folds, and member ``k`` trains
on all folds but ``k``, early-stopped on fold ``k``. Every labelled event
thus trains K - 1 members and is scored by the one that never saw it: these
out-of-fold (OOF) scores choose the selection cut, and the held-out events,
scored by the average of all members, give the figures of the result.

:func:`train_bag` trains and scores the members of one plan with
:func:`~dropout_layers.executors.run_members` (``executor='local'`` or
``'ray'``); with a :class:`MemberStore` each member's checkpoint goes to
``<out>/members/member_<i>.h5`` as soon as it arrives, so a crash loses only
the members in flight and a resumed run trains only the missing ones. A
stored member is reused only if its own record (index, fold, repeat, seed,
data and options) is the plan's: a file copied over another is refused.

:func:`train_ensemble` is the whole run of ``train-higgs --folds``: it also
writes ``<out>/ensemble.h5``, every member plus the shared preprocessing and
the cut, which :func:`dropout_layers.checkpoint.load_ensemble` reads.

The preprocessing is fitted once, on the pool of labelled training events,
and shared by every member: its statistics (means, standard deviations,
medians) use no labels, so sharing them leaks no target information across
folds, and the held-out test events take no part in it.
"""
import dataclasses
import hashlib
import time
from pathlib import Path

import numpy as np

from dropout_layers.checkpoint import (
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    save_ensemble,
)
from dropout_layers.ensemble import Ensemble
from dropout_layers.executors import ExecutorSettings, MemberJob, member_seed, run_members

from .cv import member_scores, out_of_fold_scores, repeated_stratified_splits, score_out_of_fold
from .errors import EnsembleResumeError, PipelineError
from .evaluation import score_held_out
from .member import fit_preprocessor, train_member
from .options import PipelineOptions
from .preprocessing import HiggsPreprocessor
from .results import ensemble_metrics, ensemble_summary_table
from .shipping import worker_code
from .splits import is_weighted
from .thresholds import check_selection, choose_threshold

__all__ = ["BaggingPlan", "TrainedMember", "BagResult", "EnsembleRun", "MemberStore",
           "EnsembleResumeError", "member_path", "ensemble_path", "plan_of", "train_bag",
           "train_ensemble", "ensemble_metrics", "ensemble_summary_table", "MEMBER_DIRECTORY",
           "ENSEMBLE_FILE", "MEMBER_KIND"]

MEMBER_DIRECTORY = "members"
ENSEMBLE_FILE = "ensemble.h5"
#: ``metadata['kind']`` of a member checkpoint.
MEMBER_KIND = "ensemble-member"
# Settings a resumed member must share with the run that resumes it.
_FINGERPRINT_KEYS = ("base_seed", "n_folds", "n_repeats", "options", "feature_names", "data_digest")
# Options that do not change what a member learns.
_UNRECORDED_OPTIONS = ("progress", "bootstrap", "test_fraction", "valid_fraction")


@dataclasses.dataclass(frozen=True)
class BaggingPlan:
    """Which members a bag has: ``n_folds * n_repeats`` of them.

    Attributes
    ----------
    n_folds : int
        Folds per repeat of the stratified K-fold split (at least 2).
    n_repeats : int
    seed : int
        Base seed of the splits and of every member (see
        :func:`~dropout_layers.executors.member_seed`).
    """

    n_folds: int = PipelineOptions.folds
    n_repeats: int = 1
    seed: int = 0

    @property
    def n_members(self):
        """Members in the bag."""
        return self.n_folds * self.n_repeats


def plan_of(options, seed):
    """Return the :class:`BaggingPlan` of ``options.folds`` and ``options.repeats``."""
    return BaggingPlan(int(options.folds), int(options.repeats), int(seed))


@dataclasses.dataclass
class TrainedMember:
    """What the driver keeps of one trained member.

    Attributes
    ----------
    index, repeat, fold, seed : int
    network : Layer
        Output layer holding the best epoch's parameters.
    history : list of dict
    best_epoch : int
    seconds : float
        Training wall time (0 for a member loaded on resume).
    stopped_early : bool
    """

    index: int
    repeat: int
    fold: int
    seed: int
    network: object
    history: list
    best_epoch: int
    seconds: float = 0.0
    stopped_early: bool = False


@dataclasses.dataclass
class BagResult:
    """The members of one plan and their out-of-fold scores (see :func:`train_bag`).

    Attributes
    ----------
    ensemble : Ensemble
        All members, the shared preprocessing and the cut.
    members : list of TrainedMember
    splits : list of Split
        Positions within ``pool``.
    pool : numpy.ndarray of int64
        Event numbers the members trained and were validated on.
    oof_scores : numpy.ndarray
        Each pool event's score averaged over the members that held it out.
    scores : dict
        :func:`~dropout_layers_higgs.cv.score_out_of_fold` (with
        ``threshold``, the cut for new events) plus ``member_spread`` and
        ``members`` from :func:`~dropout_layers_higgs.cv.member_scores`.
    trained, resumed : list of int
    seconds : float
        Wall time of the member training.
    """

    ensemble: Ensemble
    members: list
    splits: list
    pool: np.ndarray
    oof_scores: np.ndarray
    scores: dict
    trained: list
    resumed: list
    seconds: float

    @property
    def threshold(self):
        """The cut for new events, chosen on the out-of-fold scores."""
        return self.ensemble.threshold

    def score(self, data, rows):
        """Return the bag's scores (the mean of its members) of the events ``rows``."""
        preprocessor = HiggsPreprocessor.from_state(self.ensemble.preprocessing)
        X = preprocessor.transform(data.X[rows], data.feature_names)
        return np.asarray(self.ensemble.predict(X), dtype=np.float64).reshape(-1)


@dataclasses.dataclass
class EnsembleRun(BagResult):
    """The result of :func:`train_ensemble`: the bag, its held-out figures and its file.

    Attributes
    ----------
    labels, weights : numpy.ndarray
        Labels and physics weights (None for UCI data) of the pool events,
        in the order of ``oof_scores``.
    test_idx : numpy.ndarray of int64
        Held-out event numbers (possibly empty).
    test_scores : numpy.ndarray or None
    test_metrics : dict or None
        :func:`~dropout_layers_higgs.thresholds.evaluate_scores` of the
        held-out events at the out-of-fold cut, with bootstrap spreads.
    path : Path
        The ensemble checkpoint.
    """

    labels: np.ndarray = None
    weights: np.ndarray = None
    test_idx: np.ndarray = None
    test_scores: np.ndarray = None
    test_metrics: dict = None
    path: Path = None


def member_path(out_dir, index):
    """Return the path of member ``index``'s checkpoint inside ``out_dir``."""
    return Path(out_dir) / MEMBER_DIRECTORY / f"member_{index:03d}.h5"


def ensemble_path(out_dir):
    """Return the path of the ensemble checkpoint inside ``out_dir``."""
    return Path(out_dir) / ENSEMBLE_FILE


def _data_digest(data, rows):
    # Cheap identity of the training events: labels plus a sample of rows.
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(data.y[rows]).tobytes())
    step = max(1, len(rows) // 1000)
    digest.update(np.ascontiguousarray(data.X[rows[::step]]).tobytes())
    return digest.hexdigest()[:16]


def _options_record(options):
    return {key: value for key, value in options.to_dict().items()
            if key not in _UNRECORDED_OPTIONS}


@dataclasses.dataclass(frozen=True)
class _MemberTask:
    split: object
    fingerprint: dict


class MemberStore:
    """Member checkpoints in ``<out_dir>/members/``, written as members finish.

    Parameters
    ----------
    out_dir : str or Path
    resume : bool
        Reuse the finished members found there (each checked against the
        plan: see :meth:`load`).
    """

    def __init__(self, out_dir, resume=False):
        self.out_dir = Path(out_dir)
        self.resume = bool(resume)
        self.preprocessing = None

    def save(self, job, member):
        """Write ``member``'s checkpoint, with the record that identifies it."""
        path = member_path(self.out_dir, job.index)
        path.parent.mkdir(parents=True, exist_ok=True)
        metadata = dict(job.payload.fingerprint, kind=MEMBER_KIND, member_index=job.index,
                        repeat=member.repeat, fold=member.fold, member_seed=job.seed,
                        best_epoch=member.best_epoch, seconds=member.seconds,
                        stopped_early=member.stopped_early)
        save_checkpoint(path, member.network, metadata=metadata, history=member.history,
                        preprocessing=self.preprocessing)

    def load(self, job):
        """Return the finished member ``job`` asks for, or None to train it.

        Raises
        ------
        EnsembleResumeError
            If the file holds another member (its index, fold, repeat or
            seed differ from the plan's: a file copied or renamed) or was
            trained with other settings or data.
        """
        path = member_path(self.out_dir, job.index)
        if not path.exists():
            return None
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError:
            # Saves are atomic, so a member killed while saving leaves no
            # file; an unreadable one is damaged: train it again.
            return None
        metadata = dict(checkpoint.metadata or {})
        split = job.payload.split
        for key in _FINGERPRINT_KEYS:
            if metadata.get(key) != job.payload.fingerprint[key]:
                raise EnsembleResumeError(
                    f"{path}: cannot resume, this member was trained with a different {key} "
                    f"({metadata.get(key)!r} instead of {job.payload.fingerprint[key]!r}); "
                    "use the same settings or a new output directory")
        # Same settings, so a member of the same run: its own record must be this job's.
        _check_identity(path, metadata, job, split)
        return TrainedMember(index=job.index, repeat=split.repeat, fold=split.fold, seed=job.seed,
                             network=checkpoint.network, history=list(checkpoint.history or []),
                             best_epoch=int(metadata.get("best_epoch", 0)))


def _check_identity(path, metadata, job, split):
    expected = {"kind": MEMBER_KIND, "member_index": job.index, "fold": split.fold,
                "repeat": split.repeat, "member_seed": job.seed}
    found = {key: metadata.get(key) for key in expected}
    if found != expected:
        differ = ", ".join(f"{key} {found[key]!r} instead of {value!r}"
                           for key, value in expected.items() if found[key] != value)
        raise EnsembleResumeError(
            f"{path}: cannot resume, the file is not member {job.index} of this plan ({differ}); "
            "it was copied or renamed: delete it to train that member again, or use a new "
            "output directory")


def _train_split(shared, job):
    """Train one member; runs in the worker (this process, a subprocess or a Ray task)."""
    data, options, preprocessor, train_fn, callbacks = shared
    split = job.payload.split
    extra = {} if callbacks is None else {"callbacks": list(callbacks(job.index))}
    result = (train_fn or train_member)(data, split.train_index, split.valid_index, options,
                                        job.seed, preprocessor=preprocessor, **extra)
    trainer = getattr(result, "trainer", None)
    if trainer is not None and trainer.history.interrupted is not None:
        # A member cut short by Ctrl-C is not finished: it must not be saved
        # as one (a resumed run trains it again).
        raise KeyboardInterrupt
    return TrainedMember(index=job.index, repeat=split.repeat, fold=split.fold, seed=job.seed,
                         network=result.network, history=list(result.history),
                         best_epoch=int(result.best_epoch), seconds=float(result.seconds),
                         stopped_early=bool(result.stopped_early))


def _jobs(data, pool, options, plan):
    splits = repeated_stratified_splits(data.y[pool], plan.n_folds, plan.n_repeats, plan.seed)
    fingerprint = {"base_seed": plan.seed, "n_folds": plan.n_folds,
                   "n_repeats": plan.n_repeats, "options": _options_record(options),
                   "feature_names": list(data.feature_names),
                   "data_digest": _data_digest(data, pool)}
    # Workers get event numbers of the whole data, so that the data travels once.
    jobs = [MemberJob(split.index, member_seed(plan.seed, split.index),
                      _MemberTask(dataclasses.replace(split, train_index=pool[split.train_index],
                                                      valid_index=pool[split.valid_index]),
                                  fingerprint))
            for split in splits]
    return splits, jobs


def _score_members(data, pool, splits, members, preprocessor, options, seed):
    """Assemble the ensemble, its out-of-fold scores and their figures."""
    ensemble = Ensemble([member.network for member in members],
                        preprocessing=preprocessor.get_state())
    X = preprocessor.transform(data.X[pool], data.feature_names)
    held_out = [ensemble.predict_member(i, X[split.valid_index]).reshape(-1)
                for i, split in enumerate(splits)]
    oof = out_of_fold_scores(splits, held_out, len(pool))
    y = data.y[pool]
    weights = data.weights[pool] if is_weighted(data) else None

    def choose_cut(scores, labels, physics):
        return choose_threshold(scores, labels, physics, physics is not None,
                                options.threshold_rule, options.ams_window, options.top_fraction)

    scores = score_out_of_fold(oof, y, weights, splits, choose_cut=choose_cut,
                               bootstrap=options.bootstrap, seed=seed)
    per_member = member_scores(splits, held_out, y, weights)
    scores.update(member_spread=per_member["spread"], members=per_member["members"])
    if "threshold" not in scores:
        scores["threshold"] = choose_cut(oof, y, None)
        scores["selected_fraction"] = float(np.mean(oof >= scores["threshold"]))
    check_selection(oof, scores["threshold"], "out-of-fold scores")
    ensemble.threshold = scores["threshold"]
    return ensemble, oof, scores


def train_bag(data, pool, options, plan, settings=None, store=None, train_fn=None,
              callbacks=None):
    """Train the members of ``plan`` on the events ``pool`` and score them out of fold.

    Parameters
    ----------
    data : HiggsData
        Labelled events.
    pool : numpy.ndarray of int64
        The events the members train and are validated on (the held-out
        test events are not among them).
    options : PipelineOptions
        How each member is trained.
    plan : BaggingPlan
    settings : ExecutorSettings, optional
        Where the members train (see
        :func:`~dropout_layers.executors.run_members`); by default one
        after another in this process.
    store : MemberStore, optional
        Write each member's checkpoint as it finishes and, with
        ``store.resume``, reuse the finished ones.
    train_fn : callable, optional
        Trains one member, with the signature and result of
        :func:`~dropout_layers_higgs.member.train_member` (the default); it
        runs in worker processes, so it must be importable there.
    callbacks : callable, optional
        ``callbacks(index) -> list of Callback``, the extra fit-loop
        callbacks of member ``index`` (for example TensorBoard logs); it is
        pickled to the workers with the data.

    Returns
    -------
    BagResult

    Raises
    ------
    PipelineError
        If a fold lacks a class, a member's training failed, or the cut
        selects no out-of-fold event or all of them.
    """
    pool = np.asarray(pool, dtype=np.int64)
    preprocessor = fit_preprocessor(data, pool, options)
    splits, jobs = _planned_jobs(data, pool, options, plan)
    if store is not None:
        store.preprocessing = preprocessor.get_state()
    settings = _bag_settings(settings, options)
    started = time.perf_counter()
    summary = _run_bag(jobs, (data, dataclasses.replace(options, progress=False), preprocessor,
                              train_fn, callbacks), settings, store)
    seconds = time.perf_counter() - started
    ensemble, oof, scores = _score_members(data, pool, splits, summary.results, preprocessor,
                                           options, plan.seed)
    ensemble.metadata = _bag_metadata(data, options, plan, scores)
    return BagResult(ensemble=ensemble, members=summary.results, splits=splits, pool=pool,
                     oof_scores=oof, scores=scores, trained=summary.trained,
                     resumed=summary.resumed, seconds=seconds)


def _planned_jobs(data, pool, options, plan):
    """Return the plan's splits of ``pool`` and their jobs; a fold without a class is refused."""
    try:
        return _jobs(data, pool, options, plan)
    except ValueError as exc:
        raise PipelineError(f"{data.path or 'data'}: {exc}; use fewer folds or more labelled "
                            "events") from None


def _bag_settings(settings, options):
    """Return ``settings`` (or the default) with the members' label and the code to ship."""
    return dataclasses.replace(settings or ExecutorSettings(progress=options.progress),
                               desc="ensemble members",
                               code=(*(settings.code if settings else ()), *worker_code()))


def _run_bag(jobs, shared, settings, store):
    """Train the members of ``jobs``, saving each to ``store`` and resuming from it."""
    return run_members(
        _train_split, jobs, shared=shared,
        settings=settings, save_member=None if store is None else store.save,
        load_member=None if store is None else store.load,
        resume=store is not None and store.resume)


def _bag_metadata(data, options, plan, scores):
    """Return what ``ensemble.h5`` records of the bag: its plan, options and CV figures."""
    return {"threshold": scores["threshold"], "n_folds": plan.n_folds,
            "n_repeats": plan.n_repeats, "seed": plan.seed,
            "options": _options_record(options),
            "feature_names": list(data.feature_names),
            "cv": {k: v for k, v in scores.items() if k != "members"}}


def train_ensemble(data, options, out_dir, plan=None, settings=None, resume=False,
                   train_fn=None):
    """Train a K-fold x R bag, score it out of fold and on held-out events, and save it.

    Parameters
    ----------
    data : HiggsData
        Labelled events.
    options : PipelineOptions
        How each member is trained; ``test_fraction`` sets the held-out
        events (``valid_fraction`` is not used: the folds decide).
    out_dir : str or Path
        Where the member checkpoints and ``ensemble.h5`` go.
    plan : BaggingPlan, optional
        Folds, repeats and the base seed; by default those of ``options``
        with seed 0.
    settings : ExecutorSettings, optional
    resume : bool
        Keep finished members found in ``out_dir``.
    train_fn : callable, optional
        See :func:`train_bag`.

    Returns
    -------
    EnsembleRun
    """
    if data.y is None:
        raise PipelineError(f"{data.path or 'data'}: an ensemble needs labelled events")
    plan = plan or plan_of(options, 0)
    options = dataclasses.replace(options, folds=plan.n_folds, repeats=plan.n_repeats)
    held_out = score_held_out(data, options, plan.seed,
                              lambda pool: train_bag(data, pool, options, plan, settings,
                                                     MemberStore(out_dir, resume), train_fn))
    bag = held_out.bag
    bag.ensemble.metadata.update(test=held_out.test_metrics, leaderboard=held_out.leaderboard)
    path = ensemble_path(out_dir)
    save_ensemble(path, bag.ensemble)
    return EnsembleRun(**{field.name: getattr(bag, field.name)
                          for field in dataclasses.fields(BagResult)},
                       labels=data.y[bag.pool],
                       weights=data.weights[bag.pool] if is_weighted(data) else None,
                       test_idx=held_out.test_idx, test_scores=held_out.test_scores,
                       test_metrics=held_out.test_metrics, path=path)
