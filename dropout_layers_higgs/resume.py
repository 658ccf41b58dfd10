"""Checkpoints of a run, and continuing a single network's training from one.

:func:`save_result` writes what ``predict-higgs`` needs: a single network's
checkpoint (``kind`` :data:`CHECKPOINT_KIND`, with its optimizer state, so
that training can go on) or a bag's ensemble checkpoint (``kind``
:data:`BAG_CHECKPOINT_KIND`), each with the preprocessing, the cut, the
feature names, the options and the figures of ``metrics.json``.
:func:`load_resume_checkpoint`, :func:`check_resume_compatible` and
:func:`resumed_options` continue a single network; a bag resumes its
members from their own files (see :class:`~dropout_layers_higgs.bagging.MemberStore`).
"""
import dataclasses

from dropout_layers.checkpoint import (
    is_ensemble_file,
    load_checkpoint,
    save_checkpoint,
    save_ensemble,
)
from dropout_layers.ensemble import Ensemble
from dropout_layers.files import to_jsonable

from .errors import PipelineError
from .options import PipelineOptions

__all__ = ["CHECKPOINT_KIND", "BAG_CHECKPOINT_KIND", "ResumePoint", "save_result",
           "load_resume_checkpoint", "check_resume_compatible", "resumed_options"]

#: ``metadata['kind']`` of a single network's checkpoint written by :func:`save_result`.
CHECKPOINT_KIND = "higgs-mlp"
#: ``metadata['kind']`` of a bag's ensemble checkpoint written by :func:`save_result`.
BAG_CHECKPOINT_KIND = "higgs-bag"
# Options fixed by a checkpoint: a resumed run keeps its network, its
# preprocessing, its split, its update rule and the events it trains on.
_ARCHITECTURE_OPTIONS = ("hidden", "dropout", "input_dropout", "leakiness", "drop_phi",
                         "log_transform", "missing_indicators", "valid_fraction",
                         "test_fraction", "monitor", "training_weights", "augment_phi",
                         "update", "folds", "repeats", "top_fraction", "epoch_events")


def _metadata(result, metrics, kind):
    return {
        "kind": kind, "threshold": result.threshold,
        "format": metrics["data"]["format"], "options": result.options.to_dict(),
        "seed": result.seed, "run_id": metrics.get("run_id"),
        "metrics": {key: value for key, value in metrics.items() if key != "history"},
    }


def save_result(path, result, metrics):
    """Write the trained model as a self-contained HDF5 checkpoint.

    Parameters
    ----------
    path : str or os.PathLike
    result : PipelineResult
    metrics : dict
        From :func:`~dropout_layers_higgs.results.metrics_summary` (its
        ``run_id``, when set, marks the checkpoint and ``metrics.json`` as
        one pair).
    """
    if result.bag is not None:
        ensemble = result.bag.ensemble
        metadata = dict(_metadata(result, metrics, BAG_CHECKPOINT_KIND),
                        feature_names=list(ensemble.metadata["feature_names"]),
                        n_folds=ensemble.metadata["n_folds"],
                        n_repeats=ensemble.metadata["n_repeats"])
        save_ensemble(path, Ensemble(ensemble.members, preprocessing=ensemble.preprocessing,
                                     threshold=ensemble.threshold,
                                     metadata=to_jsonable(metadata)))
        return
    member = result.member
    # The state at the end of the best epoch: resuming from this file goes on
    # from there; metrics.json keeps the whole history.
    history = [record for record in member.history if record["epoch"] <= member.best_epoch]
    metadata = dict(_metadata(result, metrics, CHECKPOINT_KIND),
                    feature_names=list(member.preprocessor.feature_names),
                    best_epoch=member.best_epoch,
                    # What Trainer.fit(resume_from=...) reads back.
                    epoch=member.best_epoch, learning_rate=float(member.options.rate))
    save_checkpoint(path, member.network, optimizer=member.trainer.optimizer_state,
                    metadata=to_jsonable(metadata),
                    history={"records": to_jsonable(history), "interrupted": None},
                    preprocessing=member.preprocessor.get_state())


@dataclasses.dataclass
class ResumePoint:
    """A single network's checkpoint of :func:`save_result` to continue training from.

    Attributes
    ----------
    path : str
    metadata : dict
    preprocessing : dict
        The fitted preprocessing state.
    """

    path: str
    metadata: dict
    preprocessing: dict


def load_resume_checkpoint(path):
    """Read a single network's checkpoint written by :func:`save_result`, to continue it.

    Only the metadata and preprocessing are kept; the network is rebuilt
    from the stored options and :meth:`Trainer.fit` restores its state.

    Returns
    -------
    ResumePoint

    Raises
    ------
    CheckpointError
        If the file cannot be read.
    PipelineError
        If it was not written by this pipeline, or holds a bag.
    """
    if is_ensemble_file(path):
        raise PipelineError(f"{path}: holds a bag of networks, which does not resume from its "
                            "checkpoint; run again with the same --out and --resume (no "
                            "CHECKPOINT) to keep its finished members")
    checkpoint = load_checkpoint(path)
    metadata = dict(checkpoint.metadata or {})
    if metadata.get("kind") != CHECKPOINT_KIND or not checkpoint.preprocessing:
        raise PipelineError(f"{path}: not a checkpoint of the Higgs training script (no "
                            f"'{CHECKPOINT_KIND}' metadata and preprocessing)")
    return ResumePoint(str(path), metadata, checkpoint.preprocessing)


def _listed(names):
    return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def check_resume_compatible(checkpoint, data, path):
    """Refuse to resume on data with other features than the checkpoint's.

    Raises
    ------
    PipelineError
        Naming the checkpoint and the features that differ.
    """
    trained_on = list(checkpoint.metadata.get("feature_names", []))
    found = list(data.feature_names)
    if trained_on == found:
        return
    missing = [name for name in trained_on if name not in found]
    unexpected = [name for name in found if name not in trained_on]
    if missing or unexpected:
        detail = "; ".join(part for part in (
            missing and f"the data lacks {_listed(missing)}",
            unexpected and f"the data has {_listed(unexpected)}") if part)
    else:
        detail = "the same features in another order"
    raise PipelineError(f"{path}: cannot resume on {data.path or 'these data'}: the checkpoint "
                        f"was trained on {len(trained_on)} other features ({detail})")


def resumed_options(checkpoint, options):
    """Return ``options`` with the network, preprocessing and split of ``checkpoint``.

    The training schedule (epochs, batch size, learning rate, momentum,
    patience, progress, the cut rule, the bootstrap) comes from ``options``;
    everything that shapes the network or decides which events it trains
    on is the checkpoint's. Options the checkpoint predates take the values
    it was trained with (see
    :meth:`~dropout_layers_higgs.options.PipelineOptions.from_dict`).
    """
    stored = PipelineOptions.from_dict(checkpoint.metadata.get("options", {})).to_dict()
    fixed = {key: stored[key] for key in _ARCHITECTURE_OPTIONS}
    fixed["hidden"] = tuple(fixed["hidden"])
    return dataclasses.replace(options, **fixed)
