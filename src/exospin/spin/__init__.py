"""spin: the SPIN extensible kernel (Bershad et al., SOSP 1995) on the simulated machine.

Interface: the event dispatcher (``Event``, ``Dispatcher``, guards ``Eq``,
orderings ``First``/``Last``/``Before``/``After``, authorities' ``Decision``).
This layer imports only exospin.machine and exospin.safe.
"""

from .dispatcher import (
    After,
    Before,
    Costs,
    Decision,
    Dispatcher,
    DispatcherStats,
    Eq,
    Event,
    First,
    Handler,
    Last,
    NoHandler,
    Order,
    Refused,
    TypeMismatch,
)

__all__ = [
    "After", "Before", "Costs", "Decision", "Dispatcher", "DispatcherStats", "Eq", "Event",
    "First", "Handler", "Last", "NoHandler", "Order", "Refused", "TypeMismatch",
]
