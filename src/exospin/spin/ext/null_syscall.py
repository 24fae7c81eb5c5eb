"""A null system call and its guard: the SPIN paper's 'system call' benchmark as an extension.

The handler is installed on the system-call event; the guard lets it run
only for system call number 0. Neither has a loop or a call, so the
verifier leaves both untouched: each costs exactly a plain Python call.
"""

from spin import Trap

NULL = 0


def guard(number, args):
    return number == NULL


def handler(number, args):
    return 0


def install():
    return Trap.install(handler, guard)
