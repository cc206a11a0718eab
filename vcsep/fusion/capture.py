"""Constructor arguments captured once, automatically, for every model vcsep saves.

A class decorated with :func:`capture_init` records the arguments each instance was built with
(defaults included, as plain values) in ``init_args``; a checkpoint stores them beside the weights
and rebuilds the model from them, so no model hand-writes its configuration (the idea of demucs'
``capture_init``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, Sequence
from typing import Any


def plain(value: Any) -> Any:
    """``value`` with tuples as lists and mappings as dicts, recursively: what ``weights_only`` loads."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [plain(v) for v in value]
    return value


def capture_init(cls: type) -> type:
    """Class decorator: after ``__init__``, ``self.init_args`` holds every constructor argument by
    name (defaults filled in) as plain values. Constructors with ``*args`` or ``**kwargs`` are refused:
    every argument must have a name that a checkpoint can store."""
    init = cls.__init__
    signature = inspect.signature(init)
    variadic = [p.name for p in signature.parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if variadic:
        raise TypeError(f"{cls.__name__}.__init__ takes {variadic}: captured arguments must be named")

    @functools.wraps(init)
    def __init__(self, *args, **kwargs) -> None:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        init(self, *args, **kwargs)
        self.init_args = {k: plain(v) for k, v in list(bound.arguments.items())[1:]}

    cls.__init__ = __init__
    return cls
