"""Implementations of the noise ops for PyTensor's backends.

The ops (:class:`~dropout_layers.rng_key.RNGKey`,
:class:`~dropout_layers.bernoulli_op.BernoulliMask`,
:class:`~dropout_layers.uniform_op.UniformNoise`) carry NumPy
implementations (the Python and C linkers use them). This package adds:

* :mod:`.numba`: PyTensor's default linker; registered on import.
* :mod:`.jax`: ``mode="JAX"``. It imports jax, so it is registered by a
  graph rewrite that only ``mode="JAX"`` runs (PyTensor's JAX linker requires
  the ``"jax"`` rewrites), just before the graph is converted, whether or not
  the graph has noise (it also corrects the dtype of PyTensor's JAX sums).
* :mod:`.pytorch`: ``mode="PYTORCH"``. PyTensor's PyTorch mode has no
  rewrite of its own, so the implementations are registered right after
  PyTensor loads its PyTorch dispatch (which the PyTorch linker does when it
  converts a graph): a finder on ``sys.meta_path`` waits for that one module
  and then retires. If the dispatch is loaded already, they are registered
  at once.

Nothing here imports jax or torch before a JAX or PyTorch function is
compiled.
"""
import importlib.abc
import importlib.machinery
import sys

from pytensor.compile import optdb
from pytensor.graph.rewriting.basic import GraphRewriter, dfs_rewriter, node_rewriter

from ..bernoulli_op import BernoulliMask
from ..rng_key import RNGKey
from ..uniform_op import UniformNoise
from . import numba  # noqa: F401  (registers the Numba implementations)

__all__ = ["register_pytorch"]

_PYTORCH_DISPATCH = "pytensor.link.pytorch.dispatch"


@node_rewriter([RNGKey, BernoulliMask, UniformNoise])
def jax_noise_shapes(fgraph, node):
    """Register the JAX implementations, and give the noise ops' shapes as tuples.

    JAX needs concrete shapes: a shape vector made of ``Shape_i`` scalars and
    constants becomes PyTensor's ``JAXShapeTuple``, which JAX sees as a tuple
    of Python ints.
    """
    from . import jax as jax_backend

    return jax_backend.shape_as_tuple(node)


class RegisterJax(GraphRewriter):
    """Register the JAX implementations (:mod:`.jax`) before any JAX graph is converted.

    A rewrite only ``mode="JAX"`` runs, changing nothing: :mod:`.jax` also
    corrects PyTensor's JAX reductions, which every JAX graph may hold,
    noise or not.
    """

    def apply(self, fgraph):
        from . import jax  # noqa: F401


optdb.register("dropout_layers_jax_register", RegisterJax(), "jax", position=99)
optdb.register("dropout_layers_jax_noise_shapes", dfs_rewriter(jax_noise_shapes), "jax",
               position=100)


def register_pytorch():
    """Register the PyTorch implementations now (imports torch)."""
    from . import pytorch  # noqa: F401


class _AfterPyTorchDispatch(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Runs :func:`register_pytorch` once PyTensor's PyTorch dispatch has loaded."""

    def find_spec(self, name, path, target=None):
        if name != _PYTORCH_DISPATCH:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return spec
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        register_pytorch()


if _PYTORCH_DISPATCH in sys.modules:
    register_pytorch()
else:
    sys.meta_path.insert(0, _AfterPyTorchDispatch())
