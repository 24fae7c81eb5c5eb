"""The trap vector: system calls, exceptions, TLB refill and page faults.

What this models
    Every entry into a monolithic kernel from user mode (the pmax trap.c of
    Ultrix): the hardware trap, the full trap frame saved, the cause
    decoded; a system call dispatched through the table with its arguments
    checked and copied in; a TLB miss refilled from the process's page table
    by a short handler, an invalid entry falling into the general path
    (demand-zero, or a signal); the first store to a clean page setting the
    modified bit, or breaking copy-on-write; a protection fault, overflow or
    address error becoming a signal (signals.py); pending work checked and
    the frame restored on the way out.

Why it is built this way
    One path for every entry, as in Unix, so each one pays the full trap
    frame; the refill handler alone is a closure over what it reads, since it
    runs on every TLB miss (the benchmark tlb_refill). The system-call table
    itself is syscalls.TABLE, which ``Unix`` installs (kernel.py).

Interface
    ``trap(number, *args)`` (user code enters here, through libc);
    ``sigreturn(t, frame)``; ``_make_refill()`` and ``_exception`` (the CPU's
    vectors, installed by ``Unix``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from ..machine import Exc
from . import param, signals, vm
from .lifecycle import Lifecycle
from .proc import PROT_READ, PROT_WRITE, Proc, SysError, Thread, ThreadKilled

# The exception codes the vector tests on every trap, read once: an attribute of an Enum
# class goes through EnumType.__getattr__ in CPython 3.11, about two plain calls each.
_SYS, _MOD, _OV = Exc.SYS, Exc.MOD, Exc.OV
_ADDRESS_ERRORS = (Exc.ADEL, Exc.ADES)


class Traps(Lifecycle):
    """The trap vector (see the module note)."""

    # ------------------------------------------------------ system calls

    def trap(self, number: int, *args: Any) -> Any:
        """Enter the kernel with system call ``number`` (user code: libc). Returns the
        result, or a SysError instance for a failed call (errno in user space)."""
        t = self.current
        assert t is not None
        t.uargs = args
        return cast(Any, self.cpu.raise_exception(_SYS, 0, number))

    def _syscall(self, t: Thread, number: int) -> Any:
        """The generic path, after the hardware trap: save, dispatch, check and copy
        the arguments, do the work, deliver what is pending, restore, return."""
        loop = self.loop
        c = self.c
        loop.now += c.entry
        bc = self.bc
        if bc is not None:  # a faithful baseline's locore and syscall() (baseline.py)
            bc.charge("syscall")
        touch = self.touch
        if touch is not None:
            touch(self.fp.syscall, self.fp.trapframe(t))
        self._save(t)
        if t.killed or t.proc.state != "running":
            raise ThreadKilled()
        self.nsyscalls += 1
        t.proc.syscalls += 1
        loop.now += c.dispatch
        args = t.uargs
        if type(number) is not int or not 0 <= number < len(self.systab):
            result: Any = SysError("ENOSYS", f"no system call {number!r}")
        else:
            name, fn, nargs = self.systab[number]
            self.by_syscall[number] += 1
            n = len(args)
            loop.now += min(n, 4) * c.arg_reg + max(0, n - 4) * c.arg_stack
            if nargs >= 0 and n != nargs:
                result = SysError("EINVAL", f"{name}: takes {nargs} arguments, not {n}")
            else:
                try:
                    result = fn(self, t, *args)
                except SysError as e:
                    result = e
        loop.now += c.exit_checks + c.leave
        if bc is not None:
            bc.charge("user_return")
        if touch is not None:
            touch(self.fp.exit_checks, self.fp.proc(t.proc))
        self._restore(t)
        return result

    # ------------------------------------------------------- exceptions

    def _exception(self, code: Exc, vaddr: int, write: bool, value: int) -> Any:
        """The general exception vector (the CPU charged trap_entry)."""
        t = self.current
        assert t is not None
        if code is _SYS:
            return self._syscall(t, value)
        self.cpu.epc = param.USER_TEXT
        self.loop.now += self.c.entry
        if self.bc is not None:  # locore, then trap()
            self.bc.charge("trap")
        if self.touch is not None:
            self.touch(self.fp.exception, self.fp.trapframe(t))
        self._save(t)
        self.exceptions += 1
        t.proc.faults += 1
        if code is _MOD:
            return self._mod_fault(t, vaddr, value)
        if code is _OV:
            return self._signal(t, param.SIGFPE, code, vaddr, write, value,
                                "arithmetic overflow")[1]
        if code in _ADDRESS_ERRORS:
            kernel = vaddr < 0 or vaddr >= self.user_top
            sig = param.SIGSEGV if kernel else param.SIGBUS
            what = "store to" if write else "load from"
            why = f"{what} {vaddr:#x} ({'the kernel segment' if kernel else 'an unaligned address'})"
            return self._signal(t, sig, code, vaddr, write, value, why)[1]
        self.die(t, 128 + param.SIGSEGV, f"unexpected exception {code.name}")
        return 0

    def _mod_fault(self, t: Thread, vaddr: int, value: int) -> int:
        """A store hit a read-only TLB entry: set the modified bit, copy-on-write, or a
        protection violation (a signal). Returns 1 to skip the store, 0 to retry it."""
        p = t.proc
        vpn = vaddr >> self.page_shift
        self.loop.now += self.c.walk
        bc = self.bc
        if bc is not None:  # vtopte (Ultrix), vm_fault's lookup (OSF/1)
            bc.charge("fault_lookup")
        pte = p.pt.get(vpn)
        if pte is not None and pte.pfn >= 0 and pte.prot & PROT_WRITE:
            t.last_fault = None
            if bc is not None:
                bc.charge("pmap_enter")
            if pte.cow:
                try:
                    vm.break_cow(self, p, pte)
                except vm.OutOfMemory:
                    self.die(t, 128 + param.SIGKILL, f"out of memory copying page {vaddr & -self.page:#x} on write")
            else:
                self.mod_faults += 1
            pte.modified = True
            self.loop.now += self.c.pte_store
            vm.tlb_update(self, p, vpn, pte)
            self.return_to_user(t)
            return 0
        skip, _ = self._signal(t, param.SIGSEGV, Exc.MOD, vaddr, True, value, self._describe(p, vaddr, True))
        return 1 if skip else 0

    def _describe(self, p: Proc, vaddr: int, write: bool) -> str:
        pte = p.pt.get(vaddr >> self.page_shift)
        what = "store to" if write else "load from"
        why = ("not mapped" if pte is None else
               {0: "page is PROT_NONE", PROT_READ: "page is read-only"}.get(pte.prot, "allowed?"))
        return f"{what} {vaddr:#x} ({why})"

    def _make_refill(self) -> Callable[[int, int, bool], int | None]:
        """The TLB-refill vector: load the PTE from the current process's page table.

        Inlined for performance: it runs on every TLB miss. A valid entry goes
        back to the CPU for its closing tlbwr; anything else takes the general
        path (``_page_fault``).
        """
        loop = self.loop
        c_walk, c_done = self.c.refill_walk, self.c.refill_done
        wpf, memwords = self.words_per_frame, self.memwords
        touch = self.touch
        if touch is not None:  # ``detailed`` memory: the same handler, touching its lines
            fp_refill, pte_at = self.fp.refill, self.fp.pte

            def refill_detailed(vpn: int, vaddr: int, write: bool) -> int | None:
                loop.now += c_walk
                t = self.current
                assert t is not None
                p = t.proc
                touch(fp_refill, pte_at(p, vpn))
                pte = p.pt.get(vpn)
                if pte is not None and pte.pfn >= 0 and pte.prot & 1:
                    self.refills += 1
                    loop.now += c_done
                    b = pte.pfn * wpf
                    return b if pte.prot & 2 and pte.modified and not pte.cow else b - memwords
                return self._page_fault(t, vpn, vaddr, write)

            return refill_detailed

        def refill(vpn: int, vaddr: int, write: bool) -> int | None:
            loop.now += c_walk
            t = self.current
            assert t is not None
            pte = t.proc.pt.get(vpn)
            if pte is not None and pte.pfn >= 0 and pte.prot & 1:
                self.refills += 1
                loop.now += c_done
                b = pte.pfn * wpf
                return b if pte.prot & 2 and pte.modified and not pte.cow else b - memwords
            return self._page_fault(t, vpn, vaddr, write)

        return refill

    def _page_fault(self, t: Thread, vpn: int, vaddr: int, write: bool) -> int | None:
        """An invalid PTE: demand-zero a page the process may read, else a signal."""
        p = t.proc
        self.loop.now += self.c.entry
        bc = self.bc
        if bc is not None:
            bc.charge("page_fault")
        if self.touch is not None:
            self.touch(self.fp.exception, self.fp.trapframe(t))
        self._save(t)
        self.page_faults += 1
        p.faults += 1
        pte = p.pt.get(vpn)
        if pte is None or not pte.prot & PROT_READ:
            self._signal(t, param.SIGSEGV, Exc.TLBS if write else Exc.TLBL, vaddr, write, 0,
                         self._describe(p, vaddr, write))
            return None  # the access is retried (and refilled again)
        t.last_fault = None
        try:
            vm.make_resident(self, p, pte)
        except vm.OutOfMemory:
            self.die(t, 128 + param.SIGKILL, f"out of memory on demand-zero page {vaddr & -self.page:#x}")
        if write and pte.prot & PROT_WRITE:
            pte.modified = True  # vm_fault for a write: the page is dirty at once
        if bc is not None:
            bc.charge("pmap_enter")
        self.return_to_user(t)
        self.loop.now += self.c.tlb_write
        b = pte.pfn * self.words_per_frame
        return b if vm.writable_now(pte) else b - self.memwords

    # ---------------------------------------------------------- signals

    def _signal(self, t: Thread, sig: int, code: int, vaddr: int, write: bool, value: int,
                why: str) -> tuple[bool, int]:
        return signals.deliver(self, t, sig, code, vaddr, write, value, why)

    def sigreturn(self, t: Thread, fa: Any) -> None:
        signals.sigreturn(self, t, fa)
