"""Applications, written against ``exospin.posix`` only: they run unchanged on every system.

Each is ``main(argv) -> status`` and reports through its exit status and
what it writes to the descriptor or memory its caller gives it. The named
questions of the acceptance tests (after MIT's JOS lab: faultalloc,
faultdie, faultbadhandler, faultevilhandler, forktree, pingpong, primes,
spawn) are each one small module.
"""

from . import faults, forktree, pingpong, primes, spawn

APPS = {
    "faultalloc": faults.faultalloc,
    "faultdie": faults.faultdie,
    "faultbadhandler": faults.faultbadhandler,
    "faultevilhandler": faults.faultevilhandler,
    "forktree": forktree.main,
    "pingpong": pingpong.main,
    "primes": primes.main,
    "spawn": spawn.main,
}

__all__ = ["APPS"]
