"""Kernel threads: a thread package for code that runs in the kernel.

In SPIN a thread package is an extension (Bershad et al., SOSP 1995,
section 4.2): the kernel's strands have a name and nothing else, and the
package gives them a body, a way to wait for one another and locks. This
one is the kernel's own: a thread is a strand in no address space,
created with ``fork`` and waited for with ``join``; ``Mutex`` and
``Condition`` block on the global scheduler (Strand.block / unblock),
with no lost wake-up, because kernel code is not preempted between two
of these calls.

Its strands save and restore no state of their own beyond what the
scheduler's Checkpoint/Resume already does: a kernel thread is all
registers and stack.
"""

from spin import Strand

package = []


def fork(fn, args):
    """A new kernel thread running fn(*args)."""
    return Strand.create(package[0], fn, args, "kthread", Strand.DEFAULT_PRIORITY)


def join(t):
    """Wait for thread t to end; its result."""
    return Strand.join(t)


def current():
    return Strand.current()


def yield_():
    Strand.yield_()


class Mutex:
    def __init__(self):
        self.locked = False
        self.waiting = []

    def lock(self):
        while self.locked:
            self.waiting.append(Strand.current())
            Strand.block()
        self.locked = True

    def unlock(self):
        self.locked = False
        if self.waiting:
            Strand.unblock(self.waiting.pop(0))


class Condition:
    def __init__(self):
        self.waiting = []

    def wait(self, mutex):
        self.waiting.append(Strand.current())
        mutex.unlock()
        Strand.block()
        mutex.lock()

    def signal(self):
        if self.waiting:
            Strand.unblock(self.waiting.pop(0))

    def broadcast(self):
        while self.waiting:
            Strand.unblock(self.waiting.pop(0))


def install():
    package.append(Strand.package("kthreads"))
