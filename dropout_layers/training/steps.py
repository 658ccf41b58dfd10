"""Compiling the train and evaluation steps, ahead of the epochs, with a notice when it is slow.

PyTensor's default linker (numba) compiles in two stages: graph rewrites
when :func:`pytensor.function` is called (under a second), then machine
code at the function's first call, which takes seconds to tens of seconds
on a first run and a fraction of a second once numba's on-disk cache holds
the kernels. :meth:`Steps.prepare` does both stages before the first epoch:
it calls each step once on real data and then puts every shared variable it
touched (parameters, optimizer state, RNG streams, learning rate) back as it
was, so the run that follows is exactly the one it would have been. So the
progress bar of epoch 1 starts after compilation, Ctrl-C still aborts a
slow compile, and a :class:`CompileNotice` can say that compilation is
under way when it takes long enough to be worth a line.
"""
import threading
import time

from ..backends.jax_streams import pull_streams, push_streams
from ..compilation import compile_function

__all__ = ["Steps", "CompileNotice", "estimate_compile_seconds"]

#: Ops that compile to almost nothing (views and shape arithmetic).
_CHEAP_OPS = frozenset({"DimShuffle", "Shape_i", "Shape", "MakeVector", "ScalarFromTensor",
                        "TensorFromScalar", "SpecifyShape", "Reshape", "DeepCopyOp"})
#: CPU seconds per compute node on a first (cold) numba compile, measured on the
#: default Higgs network (see scripts/benchmark_startup.py); a rough guide only.
_NUMBA_SECONDS_PER_NODE = 0.25


def estimate_compile_seconds(functions):
    """Guess the first-run compile time of compiled PyTensor functions.

    Parameters
    ----------
    functions : sequence of pytensor Function
        Functions after :func:`pytensor.function` (rewritten, not yet run).

    Returns
    -------
    float or None
        Seconds for the numba linker, from the number of compute nodes;
        ``None`` for other linkers, whose costs differ too much to guess.
    """
    nodes = 0
    for function in functions:
        if type(function.maker.linker).__name__ != "NumbaLinker":
            return None
        nodes += sum(type(node.op).__name__ not in _CHEAP_OPS
                     for node in function.maker.fgraph.apply_nodes)
    return nodes * _NUMBA_SECONDS_PER_NODE


class CompileNotice:
    """Announce a compilation that is still running after ``delay`` seconds.

    Used as a context manager around the compilation. A cached network
    finishes before the delay and nothing is said; a first run gets one line
    when the delay has passed and a second one with the time taken when it
    is done.

    Parameters
    ----------
    say : callable
        ``say(message)``, for example ``print``.
    message : str or callable
        The announcement, or a function returning it when it is made.
    delay : float or None
        Seconds to wait before announcing; 0 announces at once, ``None``
        never.
    """

    def __init__(self, say, message, delay=1.0):
        self.say = say
        self.message = message
        self.delay = None if delay is None else float(delay)
        self.announced = False
        self.seconds = None
        self._lock = threading.Lock()
        self._done = False
        self._timer = None
        self._started = None

    def _announce(self):
        with self._lock:
            if not self._done:
                self.announced = True
                self.say(self.message() if callable(self.message) else self.message)

    def __enter__(self):
        self._started = time.perf_counter()
        if self.delay == 0:
            self._announce()
        elif self.delay is not None:
            self._timer = threading.Timer(self.delay, self._announce)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, exc_type, exc, traceback):
        with self._lock:
            self._done = True
            self.seconds = time.perf_counter() - self._started
        if self._timer is not None:
            self._timer.cancel()
        if self.announced and exc_type is None:
            self.say(f"compiled in {self.seconds:.1f} s")
        return False


def _call_and_restore(function, arguments):
    """Call ``function`` once, then give every shared variable it reads or updates its old value."""
    saved = [(variable, variable.get_value(borrow=False)) for variable in function.get_shared()]
    try:
        function(*arguments)
    finally:
        for variable, value in saved:
            variable.set_value(value, borrow=True)
        # The random streams a JAX function draws from are copies of the shared ones.
        push_streams(function)


class Steps:
    """The compiled train step and evaluation step of a :class:`TrainingGraph`.

    Parameters
    ----------
    graph : TrainingGraph
    mode : str or Mode, optional
        PyTensor compilation mode of both steps.

    Attributes
    ----------
    train : pytensor Function
        ``f(X, y, w) -> loss``, advancing parameters, optimizer state and
        RNG streams; built on first access.
    evaluate : pytensor Function
        ``f(X, y, w) -> [loss, predictions]``, deterministic; built on first
        access.
    """

    def __init__(self, graph, mode=None):
        self.graph = graph
        self.mode = mode
        self._train = None
        self._evaluate = None
        self._ready = set()

    @property
    def train(self):
        """The train step, built on first access."""
        if self._train is None:
            self._train = compile_function(
                self.graph.inputs, self.graph.train_loss, updates=list(self.graph.updates.items()),
                mode=self.mode, on_unused_input="ignore")
        return self._train

    @property
    def evaluate(self):
        """The evaluation step, built on first access."""
        if self._evaluate is None:
            self._evaluate = compile_function(self.graph.inputs, self.graph.eval_outputs,
                                              mode=self.mode, on_unused_input="ignore")
        return self._evaluate

    def pull_streams(self):
        """Bring the layers' random streams up to the train step's (JAX draws from copies)."""
        if self._train is not None:
            pull_streams(self._train)

    def push_streams(self):
        """Start the train step's random streams from the layers' streams."""
        if self._train is not None:
            push_streams(self._train)

    def pending(self, train_batch=None, eval_batch=None):
        """Names of the steps that :meth:`prepare` would compile for these samples."""
        wanted = [("train", train_batch), ("evaluate", eval_batch)]
        return [name for name, batch in wanted if batch is not None and name not in self._ready]

    def prepare(self, train_batch=None, eval_batch=None):
        """Compile the steps that have samples, running each once and restoring all shared state.

        Parameters
        ----------
        train_batch, eval_batch : tuple of numpy.ndarray, optional
            ``(X, y, w)`` that the train and evaluation steps take; a step
            without a sample is left to compile at its first use.

        Returns
        -------
        list of str
            The steps compiled now.
        """
        names = self.pending(train_batch, eval_batch)
        for name in names:
            function = self.train if name == "train" else self.evaluate
            _call_and_restore(function, train_batch if name == "train" else eval_batch)
            self._ready.add(name)
        return names

    def build(self, names):
        """Run the :func:`pytensor.function` stage of the named steps (rewrites, no code)."""
        return [self.train if name == "train" else self.evaluate for name in names]
