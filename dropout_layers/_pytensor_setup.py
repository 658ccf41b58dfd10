"""PyTensor configuration that this library needs to run cleanly.

PyTensor's default linker is numba, whose matrix products go through
numba's own binding to SciPy's BLAS. PyTensor nonetheless probes for a C BLAS
to link against the first time a graph is optimised, and on a pip install
(no system BLAS) that probe warns "could not link to a BLAS installation",
which is irrelevant to the numba linker. When the numba linker is in use and
the user has not chosen ``blas__ldflags`` (through ``PYTENSOR_FLAGS`` or
``.pytensorrc``), we record that no C BLAS is linked, which skips the probe.
A user who selects the C linker keeps PyTensor's own behaviour.
"""
import pytensor

__all__ = ["configure", "user_set"]


def user_set(key):
    """Whether the user chose PyTensor's setting ``key`` (``PYTENSOR_FLAGS`` or ``.pytensorrc``)."""
    # PyTensor consumes PYTENSOR_FLAGS entries when it registers a setting,
    # so whether the user chose a value is recorded on the setting itself.
    if not pytensor.config._config_var_dict[key].is_default:
        return True
    try:
        pytensor.config.fetch_val_for_key(key)  # a .pytensorrc entry not read yet
    except KeyError:
        return False
    return True


def configure():
    """Skip PyTensor's C BLAS probe when the numba linker runs the graphs (see the module notes)."""
    config = pytensor.config
    uses_numba = config.linker in ("auto", "numba") and config.mode in ("Mode", "FAST_RUN", "NUMBA")
    if uses_numba and not user_set("blas__ldflags"):
        config.blas__ldflags = ""
