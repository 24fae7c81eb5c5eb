"""The cross-address-space call: from one user space into another and back.

SPIN's cross-address-space call (Bershad et al., SOSP 1995, section 5)
enters the kernel from the caller's space and leaves into the callee's,
on the caller's strand: no thread switch, no scheduler, no message copy.
A server registers procedure ``n`` of its space; a call loads the
server's space (its ASID), upcalls the procedure there in user mode, and
returns to the caller's space with the result (``User.call_in``).
"""

from spin import Errors, User

entries = {}


def register(space, n, fn):
    """Offer ``fn`` as procedure ``n`` of ``space`` (None withdraws it)."""
    if fn is None:
        entries.pop((space, n), None)
    else:
        entries[(space, n)] = fn


def forget(space):
    """The space is going away: withdraw its procedures."""
    for key in [k for k in entries if k[0] is space]:
        del entries[key]


def call(space, n, args):
    fn = entries.get((space, n))
    if fn is None:
        return Errors.fail("ENOENT", f"no procedure {n} is offered there")
    return User.call_in(space, fn, args)


def held():
    return len(entries)
