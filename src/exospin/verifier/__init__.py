"""verifier: the verifier for code downloaded into a kernel (SPIN extensions; later ASHs, UDFs, guards).

Interface: ``check(source, filename)`` lists the violations of the safe subset
(docs/verifier.md has the threat model and the catalogue); ``verify(...)``
raises ``Rejected`` or returns a ``Verified`` module whose code runs under a
``Budget`` and is terminated with ``BudgetExceeded`` when it runs too long;
its builtins and growing operators are bounded (bounded.py: ``LimitExceeded``,
and ``QuotaExceeded`` for a domain keeping more than its memory quota).

This layer imports nothing from exospin: aegis and spin import it.
"""

from .bounded import LimitExceeded
from .pure import PureExpr, expression, pure
from .udf import udf_violations, verify_udf
from .verifier import (
    ALLOWED_BUILTINS,
    DEFAULT_BUDGET,
    DEFAULT_INTERFACES,
    HOOK,
    HOOK_N,
    SETTLE_EVERY,
    Budget,
    BudgetExceeded,
    OpCosts,
    QuotaExceeded,
    Rejected,
    Verified,
    Violation,
    check,
    module_name,
    verify,
)

__all__ = [
    "ALLOWED_BUILTINS",
    "DEFAULT_BUDGET",
    "DEFAULT_INTERFACES",
    "HOOK",
    "HOOK_N",
    "Budget",
    "LimitExceeded",
    "PureExpr",
    "BudgetExceeded",
    "OpCosts",
    "QuotaExceeded",
    "Rejected",
    "SETTLE_EVERY",
    "Verified",
    "Violation",
    "check",
    "expression",
    "module_name",
    "pure",
    "verify",
    # XN's UDFs (udf.py)
    "udf_violations",
    "verify_udf",
]
