"""Aegis' errors: every bad system-call argument raises one of these.

Each carries a readable message naming the argument and what was wrong
with it. A system call that raises has changed nothing in the kernel.
"""


class AegisError(Exception):
    """A system call refused its arguments. The kernel is unchanged."""


class BadArgument(AegisError):
    """An argument of the wrong type or out of its range."""


class BadCapability(AegisError):
    """A capability that is forged, revoked, for another resource, or lacks a right."""


class BadFrame(AegisError):
    """A frame number out of range, or a frame owned by another environment."""


class BadAddress(AegisError):
    """A virtual address that is misaligned or outside the user segment."""


class BadEnvironment(AegisError):
    """An environment id that names no live environment."""


class BadEntry(AegisError):
    """A protected entry point that the callee has not registered."""


class BadSlice(AegisError):
    """A time-slice position out of range, or already allocated."""


class ResourceExhausted(AegisError):
    """No environment id, ASID, entry or guaranteed-mapping slot is left."""


class EnvironmentKilled(BaseException):
    """Unwinds an environment's context when the kernel destroys it.

    A BaseException, so that a library OS's ``except Exception`` cannot
    swallow its own destruction.
    """
