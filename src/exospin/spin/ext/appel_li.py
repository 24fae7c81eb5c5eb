"""The Appel-Li virtual-memory extension: protection faults handled at user level.

Appel and Li ("Virtual memory primitives for user programs", 1991) asked
for four things: trap, prot1/protN, unprot, dirty. SPIN gave them to an
application through an extension on the ProtectionFault event, with no
signal machinery on the way. This is that extension: a space registered
with ``set_handler`` gets a ProtectionFault handler (behind the kernel's
equality guard on the space) that upcalls the application's handler.

The handler fixes the protection (the access is retried) or asks to skip
a store. A handler that fixes nothing, or faults inside itself, leaves the
fault unhandled: the kernel's default ends the strand. A fault that an
earlier handler already fixed (the Unix extension's copy-on-write) is
retried without an upcall.
"""

from spin import Translation, User

handlers = {}


def set_handler(space, fn):
    """Deliver ``space``'s protection faults to ``fn(vaddr, write)`` (None: stop)."""
    old = handlers.pop(space, None)
    if old is not None:
        Translation.uninstall(old[1])
    if fn is not None:
        handlers[space] = [fn, Translation.on_protection_fault(space, fault), False]


def allowed(prot, write):
    if write:
        return prot & 2
    return prot & 1


def fault(ctx, vaddr, write):
    h = handlers.get(ctx)
    if h is None:
        return 0
    va = vaddr - vaddr % User.page_size()
    prot = Translation.examine_mapping(ctx, va)
    if prot is not None and allowed(prot, write):
        return Translation.RETRY
    if h[2]:
        return 0
    h[2] = True
    skip = User.upcall(h[0], vaddr, write)
    h[2] = False
    if skip:
        if write:
            return Translation.SKIP
        return 0
    prot = Translation.examine_mapping(ctx, va)
    if prot is None or allowed(prot, write):
        return Translation.RETRY
    return 0


def held():
    return len(handlers)
