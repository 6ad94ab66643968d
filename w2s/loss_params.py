"""The losses' names and parameters, checked without torch.

Every stage validates params.yaml (`w2s.config.load_params`): the `methods` must name losses and
each `losses.<name>` section must hold that loss's parameters, in range. Those checks need the names,
the parameters and their ranges only, not the loss functions, which are torch code (`w2s.losses`):
importing torch costs seconds per process, paid by every stage of a cold `dvc repro` (issue 21). So
the registry lives here; `w2s.losses` binds its functions to it, and a test checks that every loss's
keyword-only parameters and defaults are exactly the ones listed here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

from w2s.errors import InputError

LOSS_PARAMS: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "xent": {},
    "logconf": {"alpha_max": 0.75, "warmup_frac": 0.2},
    "product": {"alpha": 1.0, "beta": 1.0},
    "kl": {},
    "entropy": {"alpha_max": 0.75, "warmup_frac": 0.2},
})
"""Loss name -> its parameters (the loss function's keyword-only arguments) and their defaults."""

PARAM_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType({
    "alpha_max": (0.0, 1.0), "warmup_frac": (0.0, 1.0), "alpha": (0.0, math.inf), "beta": (0.0, math.inf),
})
"""Valid closed range of every loss parameter, checked by the losses and by `check_loss_params`."""


def check_param(name: str, value: float) -> float:
    """`value` as a float when it is a finite number in `name`'s range; InputError naming it otherwise."""
    low, high = PARAM_RANGES[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"loss parameter {name}: expected a number, got {value!r}")
    if not (math.isfinite(value) and low <= value <= high):
        raise InputError(f"loss parameter {name}: must be a finite number in [{low}, {high}], got {value}")
    return float(value)


def check_loss_params(name: str, params: Mapping[str, float]) -> dict[str, float]:
    """The parameters of loss `name` as floats, checked: InputError for an unknown name (listing the known
    ones), an unknown parameter, or a parameter that is not a number in its range (bools and strings are
    rejected; ints become floats)."""
    if name not in LOSS_PARAMS:
        raise InputError(f"unknown loss {name!r}; known: {', '.join(LOSS_PARAMS)}")
    known = list(LOSS_PARAMS[name])
    bound: dict[str, float] = {}
    for key, value in params.items():
        if key not in known:
            raise InputError(f"loss {name}: unknown parameter {key!r}; known: {', '.join(known) or 'none'}")
        bound[key] = check_param(key, value)
    return bound
