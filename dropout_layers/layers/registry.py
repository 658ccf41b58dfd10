"""The registry of layer classes, used to rebuild a network from its config.

Built-in layers register themselves. A custom layer registers with the
decorator::

    @register_layer
    class MyLayer(Layer):
        ...

so that :func:`dropout_layers.load_checkpoint` can rebuild networks that use it.
"""

__all__ = ["register_layer", "get_layer_class", "registered_layers"]

_REGISTRY = {}


def register_layer(cls=None, *, name=None):
    """Register a layer class under ``name`` (default: the class name).

    Usable as ``@register_layer`` or ``@register_layer(name='Custom')``.
    """

    def decorate(klass):
        key = name or klass.__name__
        existing = _REGISTRY.get(key)
        if existing is not None and existing is not klass:
            where = (existing.__module__, existing.__qualname__)
            if where != (klass.__module__, klass.__qualname__):
                raise ValueError(f"layer name {key!r} is already registered to {'.'.join(where)}")
        _REGISTRY[key] = klass
        return klass

    return decorate(cls) if cls is not None else decorate


def get_layer_class(name):
    """Return the layer class registered as ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(
            f"layer class {name!r} is not registered; import the module that defines it and "
            "decorate the class with @dropout_layers.register_layer before loading"
        ) from None


def registered_layers():
    """Return a dict of all registered layer names and classes."""
    return dict(_REGISTRY)
