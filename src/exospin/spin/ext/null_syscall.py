"""A null system call: the SPIN paper's 'system call' benchmark as an extension.

The handler claims system call 0 on the trap event: the trap's authority
gives the number to this extension alone, and the dispatcher puts the
handler behind an equality guard on the number (found by one index lookup,
however many numbers other extensions claim). The handler has no loop and
no call, so the verifier leaves it untouched: it costs exactly a plain
Python call.
"""

from spin import Trap

NULL = 0


def handler(number, args):
    return 0


def install():
    Trap.claim(NULL, handler)
