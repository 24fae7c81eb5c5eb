"""User-level fault handling: a handler that allocates, one that gives up, two bad ones.

* faultalloc: touches pages reserved with no access; its handler makes each
  one readable and writable and writes a note into it, and the access is
  retried. Returns 0 if every page reads back its note.
* faultdie: its handler ends the process with status 3 on the first fault.
* faultbadhandler: its handler raises: the process dies with a message,
  and nothing else is affected.
* faultevilhandler: its handler writes into the kernel's half of the
  address space: the process dies with a message.
"""

from __future__ import annotations

from .. import posix

NOTE = 0x0FA017ED


def faultalloc(argv: list[str]) -> int:
    npages = int(argv[0]) if argv else 3
    page = posix.page_size()
    base = posix.mmap(npages, posix.PROT_NONE)
    faulted: list[int] = []

    def handler(vaddr: int, write: bool) -> None:
        va = vaddr - vaddr % page
        faulted.append(va)
        posix.mprotect(va, 1, posix.PROT_RW)
        posix.store(va, NOTE + (va - base) // page)

    posix.on_fault(handler)
    notes = [posix.load(base + i * page) for i in range(npages)]
    ok = notes == [NOTE + i for i in range(npages)] and len(faulted) == npages
    return 0 if ok else 1


def faultdie(argv: list[str]) -> int:
    def handler(vaddr: int, write: bool) -> None:
        posix.exit(3)

    posix.on_fault(handler)
    posix.load(posix.mmap(1, posix.PROT_NONE))
    return 0  # not reached


def faultbadhandler(argv: list[str]) -> int:
    def handler(vaddr: int, write: bool) -> None:
        raise RuntimeError(f"this handler is broken (fault at {vaddr:#x})")

    posix.on_fault(handler)
    posix.store(posix.mmap(1, posix.PROT_READ), 1)
    return 0  # not reached


def faultevilhandler(argv: list[str]) -> int:
    def handler(vaddr: int, write: bool) -> None:
        posix.store(0x8000_0000, 0xBAD)  # the kernel's segment: an address error

    posix.on_fault(handler)
    posix.load(posix.mmap(1, posix.PROT_NONE))
    return 0  # not reached
