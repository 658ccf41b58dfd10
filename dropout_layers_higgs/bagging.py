"""Bagged ensembles for the Higgs data: K-fold x R members, locally or on Ray.

:func:`train_ensemble` trains one network per split of
:func:`~dropout_layers_higgs.cv.repeated_stratified_splits` with
:func:`~dropout_layers_higgs.pipeline.train_member` (early stopping on the
member's own held-out fold), runs the members with
:func:`~dropout_layers.executors.run_members` (``executor='local'`` or
``'ray'``), and writes:

``<out>/members/member_<i>.h5``
    Each member's checkpoint, written by the driver as soon as the member
    arrives, so a crash loses only the members in flight and
    ``resume=True`` trains only the missing ones.
``<out>/ensemble.h5``
    Every member under ``/members/<i>/`` plus the shared preprocessing and
    the chosen threshold; :func:`dropout_layers.checkpoint.load_checkpoint`
    returns an :class:`~dropout_layers.ensemble.Ensemble` from it.

The preprocessing is fitted once, on all labelled events, and shared by
every member: its statistics (means, standard deviations, medians for
imputation) use no labels, so sharing them leaks no target information
across folds, and one preprocessing is what the ensemble file stores.
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
from .errors import EnsembleResumeError
from .metrics import leaderboard_ams
from .pipeline import (
    PipelineOptions,
    choose_threshold,
    describe_network,
    is_weighted,
    train_member,
    training_pool,
)
from .preprocessing import HiggsPreprocessor
from .shipping import worker_code

__all__ = ["BaggingPlan", "TrainedMember", "EnsembleRun", "EnsembleResumeError", "member_path",
           "ensemble_path", "train_ensemble", "ensemble_metrics", "ensemble_summary_table"]

MEMBER_DIRECTORY = "members"
ENSEMBLE_FILE = "ensemble.h5"
# Settings a resumed member must share with the run that resumes it.
_FINGERPRINT_KEYS = ("base_seed", "n_folds", "n_repeats", "options", "feature_names", "data_digest")


@dataclasses.dataclass(frozen=True)
class BaggingPlan:
    """Which members an ensemble has: ``n_folds * n_repeats`` of them.

    Attributes
    ----------
    n_folds : int
        Folds per repeat of the stratified K-fold split (at least 2).
    n_repeats : int
    seed : int
        Base seed of the splits and of every member (see
        :func:`~dropout_layers.executors.member_seed`).
    """

    n_folds: int = 2
    n_repeats: int = 1
    seed: int = 0

    @property
    def n_members(self):
        """Members in the ensemble."""
        return self.n_folds * self.n_repeats


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
class EnsembleRun:
    """The result of :func:`train_ensemble`.

    Attributes
    ----------
    ensemble : Ensemble
    members : list of TrainedMember
    splits : list of Split
    oof_scores : numpy.ndarray
        Every training event's score averaged over the members that held it out.
    labels, weights : numpy.ndarray
        Labels and physics weights (None for UCI data) of those events.
    scores : dict
        :func:`~dropout_layers_higgs.cv.score_out_of_fold` plus
        ``member_spread`` and ``members`` from
        :func:`~dropout_layers_higgs.cv.member_scores`.
    trained, resumed : list of int
        Members trained by this run and members found finished.
    seconds : float
        Wall time of the member training.
    path : Path
        The ensemble checkpoint.
    """

    ensemble: Ensemble
    members: list
    splits: list
    oof_scores: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    scores: dict
    trained: list
    resumed: list
    seconds: float
    path: Path


def member_path(out_dir, index):
    """Path of member ``index``'s checkpoint inside ``out_dir``."""
    return Path(out_dir) / MEMBER_DIRECTORY / f"member_{index:03d}.h5"


def ensemble_path(out_dir):
    """Path of the ensemble checkpoint inside ``out_dir``."""
    return Path(out_dir) / ENSEMBLE_FILE


def _data_digest(data):
    # Cheap identity of the training data: labels plus a sample of rows.
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(data.y).tobytes())
    step = max(1, len(data.X) // 1000)
    digest.update(np.ascontiguousarray(data.X[::step]).tobytes())
    return digest.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class _MemberTask:
    split: object
    fingerprint: dict


def _train_split(shared, job):
    """Train one member; runs in the worker (this process, a subprocess or a Ray task)."""
    data, options, preprocessor, train_fn = shared
    train_fn = train_fn or train_member
    split = job.payload.split
    result = train_fn(data, split.train_index, split.valid_index, options, job.seed,
                          preprocessor=preprocessor)
    return TrainedMember(index=job.index, repeat=split.repeat, fold=split.fold, seed=job.seed,
                         network=result.network, history=list(result.history),
                         best_epoch=int(result.best_epoch), seconds=float(result.seconds),
                         stopped_early=bool(result.stopped_early))


def _member_metadata(job, member):
    return dict(job.payload.fingerprint, kind="ensemble-member", member_index=job.index,
                repeat=member.repeat, fold=member.fold, member_seed=job.seed,
                best_epoch=member.best_epoch, seconds=member.seconds,
                stopped_early=member.stopped_early)


def _saver(out_dir, preprocessing_state):
    def save(job, member):
        path = member_path(out_dir, job.index)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(path, member.network, metadata=_member_metadata(job, member),
                        history=member.history, preprocessing=preprocessing_state)

    return save


def _loader(out_dir):
    def load(job):
        path = member_path(out_dir, job.index)
        if not path.exists():
            return None
        try:
            checkpoint = load_checkpoint(path)
        except CheckpointError:
            # A member killed while saving leaves no file (saves are atomic),
            # so an unreadable one is damaged; train it again.
            return None
        metadata = dict(checkpoint.metadata or {})
        for key in _FINGERPRINT_KEYS:
            if metadata.get(key) != job.payload.fingerprint[key]:
                raise EnsembleResumeError(
                    f"{path}: cannot resume, this member was trained with a different {key} "
                    f"({metadata.get(key)!r} instead of {job.payload.fingerprint[key]!r}); "
                    "use the same settings or a new output directory"
                )
        split = job.payload.split
        return TrainedMember(index=job.index, repeat=split.repeat, fold=split.fold, seed=job.seed,
                             network=checkpoint.network, history=list(checkpoint.history or []),
                             best_epoch=int(metadata.get("best_epoch", 0)))

    return load


def train_ensemble(data, options, out_dir, plan=BaggingPlan(), settings=None, resume=False,
                   preprocessor=None, train_fn=None):
    """Train a K-fold x R bagged ensemble and score it out of fold.

    Parameters
    ----------
    data : HiggsData
        Labelled events.
    options : PipelineOptions
        How each member is trained (``valid_fraction`` and
        ``test_fraction`` are not used: the folds decide).
    out_dir : str or Path
        Where the member checkpoints and the ensemble checkpoint go.
    plan : BaggingPlan
        Folds, repeats and the base seed.
    settings : ExecutorSettings, optional
        Where the members train (see
        :func:`~dropout_layers.executors.run_members`); by default one
        after another in this process. This application's code is added to
        what Ray ships to its workers.
    resume : bool
        Keep finished members found in ``out_dir``.
    preprocessor : HiggsPreprocessor, optional
        Fitted preprocessing to share; by default one is fitted on all of
        ``data`` with ``options.log_transform`` and ``options.drop_phi``.
    train_fn : callable, optional
        Trains one member, with the signature and result of
        :func:`~dropout_layers_higgs.pipeline.train_member` (the default).
        It runs in worker processes, so it must be a module-level function
        importable there.

    Returns
    -------
    EnsembleRun
    """
    if data.y is None:
        raise ValueError(f"{data.path or 'data'}: an ensemble needs labelled events")
    full_data = data
    pool, _ = training_pool(data)
    if len(pool) < len(data):
        # Open data: train on the Kaggle training set only, so that the
        # leaderboard sets stay unseen and give the challenge's own figures.
        data = data.subset(pool)
    out_dir = Path(out_dir)
    if preprocessor is None:
        preprocessor = HiggsPreprocessor(log_transform=options.log_transform, drop_phi=options.drop_phi)
        preprocessor.fit(data.X, data.feature_names)
    member_options = dataclasses.replace(options, progress=False)
    n_folds, n_repeats, seed = plan.n_folds, plan.n_repeats, plan.seed
    splits = repeated_stratified_splits(data.y, n_folds, n_repeats, seed)
    options_record = {k: v for k, v in member_options.to_dict().items() if k != "progress"}
    fingerprint = {"base_seed": int(seed), "n_folds": int(n_folds), "n_repeats": int(n_repeats),
                   "options": options_record, "feature_names": list(data.feature_names),
                   "data_digest": _data_digest(data)}
    jobs = [MemberJob(split.index, member_seed(seed, split.index), _MemberTask(split, fingerprint))
            for split in splits]

    started = time.perf_counter()
    settings = dataclasses.replace(settings or ExecutorSettings(), desc="ensemble members",
                                   code=(*(settings.code if settings else ()), *worker_code()))
    summary = run_members(
        _train_split, jobs, shared=(data, member_options, preprocessor, train_fn),
        settings=settings, save_member=_saver(out_dir, preprocessor.get_state()),
        load_member=_loader(out_dir), resume=resume)
    seconds = time.perf_counter() - started
    members = summary.results

    # Score every member on its held-out fold with the ensemble's own
    # compiled graph: the same path for fresh and resumed members.
    ensemble = Ensemble([member.network for member in members], preprocessing=preprocessor.get_state())
    X = preprocessor.transform(data.X, data.feature_names)
    held_out = [ensemble.predict_member(i, X[split.valid_index]).reshape(-1)
                for i, split in enumerate(splits)]
    oof = out_of_fold_scores(splits, held_out, len(data))
    weights = data.weights if is_weighted(data) else None
    # The cut rule of the single-network pipeline (smoothed maximum of the AMS
    # curve), for the cross-fitted cuts and for the stored one alike.
    scores = score_out_of_fold(oof, data.y, weights, splits,
                               choose_cut=lambda s, y, w: choose_threshold(s, y, w, weighted=True))
    per_member = member_scores(splits, held_out, data.y, weights)
    scores["member_spread"] = per_member["spread"]
    scores["members"] = per_member["members"]
    if "threshold" not in scores:
        scores["threshold"] = choose_threshold(oof, data.y, None, weighted=False)
        scores["selected_fraction"] = float(np.mean(oof >= scores["threshold"]))
    ensemble.threshold = scores["threshold"]
    if full_data is not data and np.isin(("b", "v"), full_data.kaggle_set).all():
        boards = np.isin(full_data.kaggle_set, ("b", "v"))
        board_scores = np.zeros(len(full_data))
        board_scores[boards] = ensemble.predict(
            preprocessor.transform(full_data.X[boards], full_data.feature_names)).reshape(-1)
        scores["leaderboard"] = leaderboard_ams(full_data, board_scores, ensemble.threshold)
    ensemble.metadata = {"threshold": scores["threshold"], "n_folds": int(n_folds),
                         "n_repeats": int(n_repeats), "seed": int(seed),
                         "options": options_record, "feature_names": list(data.feature_names),
                         "cv": {k: v for k, v in scores.items() if k != "members"}}
    path = ensemble_path(out_dir)
    save_ensemble(path, ensemble)
    return EnsembleRun(ensemble=ensemble, members=members, splits=splits, oof_scores=oof,
                       labels=data.y, weights=weights, scores=scores, trained=summary.trained, resumed=summary.resumed,
                       seconds=seconds, path=path)


def ensemble_metrics(run, data, description, synthetic=False, executor="local", seconds=None):
    """Everything ``metrics.json`` holds for an ensemble run, JSON-friendly.

    Parameters
    ----------
    run : EnsembleRun
    data : HiggsData
        The data the ensemble was trained on.
    description : str
        Where the data came from, for people.
    synthetic : bool
    executor : str
    seconds : float, optional
        Wall time of the whole run so far.

    Returns
    -------
    dict
        ``data``, ``ensemble`` (members, folds, repeats, seed, executor,
        trained and resumed members), ``network``, ``options``,
        ``threshold``, ``threshold_rule``, ``cross_validation`` (the
        out-of-fold figures), ``member_spread``, ``members`` (each member's
        held-out figures, best epoch and training time), ``leaderboard``
        (open data only) and ``seconds``.
    """
    metadata = run.ensemble.metadata
    options = PipelineOptions.from_dict(metadata["options"])
    preprocessor = HiggsPreprocessor.from_state(run.ensemble.preprocessing)
    weighted = is_weighted(data)
    by_index = {row["index"]: row for row in run.scores["members"]}
    members = []
    for member in run.members:
        row = dict(by_index[member.index])
        row.update(seed=member.seed, best_epoch=member.best_epoch,
                   epochs_run=len(member.history), seconds=member.seconds,
                   resumed=member.index in run.resumed)
        members.append(row)
    cv = {key: value for key, value in run.scores.items()
          if key not in ("members", "member_spread", "leaderboard", "threshold")}
    return {
        "data": {"description": description, "path": data.path, "format": data.format,
                 "synthetic": bool(synthetic), "weighted": weighted,
                 "n_events": int(len(run.oof_scores))},
        "ensemble": {"n_members": len(run.members), "n_folds": metadata["n_folds"],
                     "n_repeats": metadata["n_repeats"], "seed": metadata["seed"],
                     "executor": executor, "trained": sorted(run.trained),
                     "resumed": sorted(run.resumed), "path": str(run.path)},
        "network": describe_network(preprocessor.n_outputs, options),
        "inputs": preprocessor.output_names,
        "options": metadata["options"],
        "threshold": run.scores["threshold"],
        "threshold_rule": ("maximum of the smoothed AMS curve of the out-of-fold scores"
                           if weighted else "maximum TPR - FPR of the out-of-fold scores"),
        "cross_validation": cv,
        "member_spread": run.scores["member_spread"],
        "members": members,
        "leaderboard": run.scores.get("leaderboard"),
        "seconds": {"members": run.seconds, "total": seconds},
    }


def _cell(value, digits=4):
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def ensemble_summary_table(metrics):
    """A readable text table of :func:`ensemble_metrics`.

    Returns
    -------
    str
        Several lines, without a trailing newline.
    """
    ensemble, cv, spread = metrics["ensemble"], metrics["cross_validation"], metrics["member_spread"]
    rows = [
        ("data", metrics["data"]["description"]),
        ("ensemble", f"{ensemble['n_members']} members = {ensemble['n_folds']} folds x "
                     f"{ensemble['n_repeats']} repeats (executor {ensemble['executor']}; "
                     f"{len(ensemble['trained'])} trained, {len(ensemble['resumed'])} resumed)"),
        ("network", metrics["network"]),
        ("decision threshold", f"{_cell(metrics['threshold'], 6)} ({metrics['threshold_rule']}; "
                               f"selects {_cell(cv.get('selected_fraction'), 3)})"),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value}" for label, value in rows]
    lines += ["", "out-of-fold (each event scored by the members that never saw it):"]
    figures = [("AUC", cv.get("auc"), spread.get("auc"))]
    if "ams_cross_fitted" in cv:
        figures += [("AMS, cut chosen on the other folds", cv["ams_cross_fitted"], None),
                    ("AMS, top 15%", cv["ams_top15"], spread.get("ams_top15")),
                    ("AMS, best cut on these scores (optimistic)", cv["ams_best_oof"],
                     spread.get("ams_best"))]
    label_width = max(len(name) for name, _, _ in figures)
    lines.append(f"  {'':<{label_width}}  {'ensemble':>8}  {'members: mean +- std':>22}")
    for name, value, member in figures:
        member_text = "-" if member is None else f"{member['mean']:.4f} +- {member['std']:.4f}"
        lines.append(f"  {name:<{label_width}}  {_cell(value):>8}  {member_text:>22}")
    for board, value in (metrics.get("leaderboard") or {}).items():
        lines.append(f"  {board + ' leaderboard AMS':<{label_width}}  {_cell(value):>8}")
    return "\n".join(lines)
