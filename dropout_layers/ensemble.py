"""Ensembles of independently trained networks that predict by averaging.

Bagging networks trained on different splits of the data is the oldest way
to buy accuracy with compute: the Higgs challenge was won by the average of
70 dropout networks. :class:`Ensemble` holds the members, the preprocessing
they share and the decision threshold chosen for the ensemble score, and
predicts with the plain mean of the members' deterministic outputs. It is a
:class:`~dropout_layers.predictor.Predictor`: given a feature ``pipeline``
(a loaded ensemble has the one stored in its file), :meth:`Ensemble.predict`
scores raw inputs.

Members built from the same architecture share one compiled function: their
parameters are passed to it as inputs instead of being baked in as shared
variables, so a 70-member ensemble compiles once, not 70 times.
"""
import json

import numpy as np
from pytensor.graph.replace import clone_replace
from tqdm.auto import tqdm

from .batching import predict_in_batches
from .checks import check_positive_int
from .inputs import check_features
from .layers import Layer, get_all_layers, get_all_params, get_output
from .predictor import Predictor
from .preprocessing import FeaturePipeline
from .random import function
from .uncertainty import DEFAULT_BATCH_SIZE, mc_moments, reseeded_streams, single_input_layer

__all__ = ["Ensemble", "architecture_signature"]


def architecture_signature(network):
    """Return a hashable description of a network's architecture.

    Two networks with equal signatures have the same layers, configured
    alike, wired alike, with parameters of the same shapes and dtypes, so
    one compiled graph computes either when given its parameter values.

    Parameters
    ----------
    network : Layer

    Returns
    -------
    str
    """
    layers = get_all_layers(network)
    position = {layer: i for i, layer in enumerate(layers)}
    description = []
    for layer in layers:
        incoming = getattr(layer, "input_layers", None)
        if incoming is None:
            incoming = [getattr(layer, "input_layer", None)]
        params = [(tuple(p.get_value(borrow=True).shape), str(p.dtype)) for p in layer.get_params()]
        config = {k: v for k, v in layer.get_config().items() if k not in ("seed", "name")}
        description.append((type(layer).__name__, json.dumps(config, sort_keys=True, default=str),
                            [position.get(source) for source in incoming], params))
    return json.dumps(description)


class _SharedGraph:
    """One compiled forward pass that any member of one architecture can run.

    The template's parameters are replaced by symbolic inputs of the same
    types; its RNG streams (if stochastic) stay shared, so the stochastic
    variant draws masks from the template's streams whichever member runs.
    """

    def __init__(self, template, input_layer, deterministic):
        self.params = get_all_params(template)
        output = get_output(template, deterministic=deterministic)
        param_inputs = [param.type(name=param.name) for param in self.params]
        output = clone_replace(output, replace=dict(zip(self.params, param_inputs)))
        self.compiled = function([input_layer.input_var] + param_inputs, output)

    def bind(self, member):
        """Return ``f(X)``: the compiled pass with ``member``'s parameter values."""
        values = [param.get_value(borrow=True) for param in get_all_params(member)]
        return lambda X: self.compiled(X, *values)


class Ensemble(Predictor):
    """Networks whose predictions are averaged, with what they share.

    Parameters
    ----------
    members : sequence of Layer
        The members' output layers; at least one. Their outputs must have
        the same shape.
    preprocessing : object, optional
        The feature preprocessing every member was trained after, as
        :func:`~dropout_layers.checkpoint.save_ensemble` stores it: a
        :class:`~dropout_layers.preprocessing.FeaturePipeline`, an object
        with ``get_state()`` or a dict. Kept, not applied.
    threshold : float, optional
        Decision threshold chosen for the ensemble's score.
    metadata : dict, optional
        Free-form information (for example the cross-validation scores).
    pipeline : FeaturePipeline, optional
        The preprocessing that :meth:`predict` applies to raw inputs; its
        output width must be the members' input width. An ensemble loaded
        from a file has the pipeline stored there (if its preprocessing is
        one); one built without a pipeline takes preprocessed features.

    Attributes
    ----------
    members : list of Layer
    preprocessing, threshold, metadata, pipeline
        As given.
    path, attrs : str and dict, or None
        The file and its root attributes, for a loaded ensemble.

    Raises
    ------
    TypeError
        For a member that is not a Layer, or a pipeline that is not a
        FeaturePipeline.
    ValueError
        For no members, members with different output shapes, or a
        pipeline whose width is not the members' input width.
    """

    default_batch_size = DEFAULT_BATCH_SIZE

    def __init__(self, members, preprocessing=None, threshold=None, metadata=None,
                 pipeline=None):
        members = list(members)
        if not members:
            raise ValueError("an Ensemble needs at least one member network")
        for i, member in enumerate(members):
            if not isinstance(member, Layer):
                raise TypeError(f"ensemble member {i} is a {type(member).__name__}, not a Layer")
        shapes = {tuple(member.output_shape[1:]) for member in members}
        if len(shapes) > 1:
            raise ValueError(f"ensemble members have different output shapes {sorted(shapes)}")
        self.members = members
        self.preprocessing = preprocessing
        self.threshold = None if threshold is None else float(threshold)
        self.metadata = dict(metadata or {})
        self.pipeline = self._checked_pipeline(pipeline)
        self.path = None
        self.attrs = None
        self._graphs = {}
        self._functions = {}

    def __len__(self):
        return len(self.members)

    def __repr__(self):
        return f"Ensemble({len(self.members)} members, threshold={self.threshold})"

    @property
    def input_layer(self):
        """The first member's input layer (every member's has the same shape)."""
        return single_input_layer(self.members[0])

    def _checked_pipeline(self, pipeline):
        if pipeline is None:
            return None
        if not isinstance(pipeline, FeaturePipeline):
            raise TypeError(f"pipeline must be a FeaturePipeline, got {type(pipeline).__name__}")
        shape = self.input_layer.shape
        if len(shape) != 2 or shape[1] not in (None, pipeline.n_outputs):
            raise ValueError(f"the feature pipeline gives {pipeline.n_outputs} columns but the "
                             f"members' input is {shape}")
        return pipeline

    def _member_functions(self, deterministic):
        # Group members by architecture and compile once per group.
        if deterministic not in self._functions:
            functions = []
            for member in self.members:
                key = (architecture_signature(member), deterministic)
                if key not in self._graphs:
                    self._graphs[key] = _SharedGraph(member, single_input_layer(member),
                                                     deterministic)
                functions.append(self._graphs[key])
            self._functions[deterministic] = functions
        return self._functions[deterministic]

    def _prepare(self, X):
        return np.ascontiguousarray(check_features(X, self.input_layer))

    def predict_members(self, X, batch_size=DEFAULT_BATCH_SIZE, preprocess=None):
        """Deterministic predictions of every member.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            As for :meth:`predict`.
        batch_size : int
        preprocess : None, bool or callable
            As for :meth:`predict`.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_members, n_events, ...)``, in the members' dtype.
        """
        X = self._prepare(self.preprocessed(X, preprocess))
        batch_size = check_positive_int(batch_size, "batch_size")
        return np.stack([self._run_member(i, X, batch_size) for i in range(len(self.members))])

    def predict_member(self, index, X, batch_size=DEFAULT_BATCH_SIZE, preprocess=None):
        """Deterministic predictions of member ``index`` alone.

        Parameters
        ----------
        index : int
        X : array_like or pandas.DataFrame
            As for :meth:`predict`.
        batch_size : int
        preprocess : None, bool or callable
            As for :meth:`predict`.

        Returns
        -------
        numpy.ndarray
            In the member's dtype.
        """
        return self._run_member(index, self._prepare(self.preprocessed(X, preprocess)),
                                check_positive_int(batch_size, "batch_size"))

    def _run_member(self, index, X, batch_size):
        """Deterministic outputs of one member on already checked inputs, batch by batch."""
        run = self._member_functions(True)[index].bind(self.members[index])
        return predict_in_batches(run, [X], batch_size)

    def predict(self, X, batch_size=None, preprocess=None):
        """Score events with the mean of the members' deterministic predictions.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            Raw inputs when the ensemble has a :attr:`pipeline` (a DataFrame
            must have exactly its input columns, in order), else features.
        batch_size : int, optional
            Events per forward pass (default
            :data:`~dropout_layers.uncertainty.DEFAULT_BATCH_SIZE`).
        preprocess : None, bool or callable
            None: apply the pipeline if there is one; False: ``X`` holds
            preprocessed features; see
            :meth:`dropout_layers.predictor.Predictor.predict`.

        Returns
        -------
        numpy.ndarray
            float64, shape of one member's output.
        """
        return super().predict(X, batch_size, preprocess)

    def _predict_features(self, X, batch_size):
        X = self._prepare(X)
        total = sum(self._run_member(index, X, batch_size).astype(np.float64)
                    for index in range(len(self.members)))
        return total / len(self.members)

    def predict_mc(self, X, n_samples=30, batch_size=DEFAULT_BATCH_SIZE, seed=None, progress=False,
                   preprocess=None):
        """Pooled Monte-Carlo dropout over all members.

        Every member runs ``n_samples`` stochastic passes (see
        :func:`dropout_layers.uncertainty.predict_mc`); the result is the
        mean and standard deviation of all ``n_members * n_samples`` passes
        together. By the law of total variance that spread holds both the
        members' own dropout spread and their disagreement with one another.

        Parameters
        ----------
        X : array_like or pandas.DataFrame
            As for :meth:`predict`.
        n_samples : int
            Stochastic passes per member.
        batch_size : int
        seed : int, optional
            Member ``i`` draws its masks from streams seeded with
            ``(seed, i)``, so the result does not depend on the order in
            which members run; by default the streams of each member
            architecture's first member are used and advanced.
        progress : bool
            Show a progress bar over the members.
        preprocess : None, bool or callable
            As for :meth:`predict`.

        Returns
        -------
        mean, std : numpy.ndarray
            float64, shape of one member's output.
        """
        return super().predict_mc(X, n_samples, batch_size, seed, progress, preprocess)

    def _predict_mc_features(self, X, n_samples, batch_size, seed, progress):
        X = self._prepare(X)
        pooled = None
        pairs = tqdm(list(zip(self._member_functions(False), self.members)),
                     desc="MC dropout members", unit="member", leave=False, disable=not progress)
        for index, (graph, member) in enumerate(pairs):
            member_seed = None if seed is None else [int(seed), index]
            with reseeded_streams(graph.compiled, member_seed):
                moments = mc_moments(graph.bind(member), X, n_samples, batch_size)
            pooled = moments if pooled is None else pooled.merge(moments)
        return pooled.mean, pooled.std
