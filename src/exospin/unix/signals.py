"""Signals: a synchronous fault delivered to the process's handler, the Unix way.

What this models
    ``sendsig()`` and ``sigreturn()`` of a BSD kernel (4.3BSD, and the MIPS
    and Alpha ports of Ultrix and OSF/1). When a fault (SIGSEGV: protection;
    SIGBUS: an unaligned access; SIGFPE: overflow) finds a handler, the
    kernel, whose trap path has already saved the full trap frame,

    1. builds a signal frame: a header (magic, signal, code, faulting
       address, the mask to restore, the on-stack flag) and the whole trap
       frame, and copies it out to the thread's signal stack, a word at a
       time;
    2. sets up the handler's registers and returns to user mode at the
       process's signal trampoline (libc), with the signal blocked;
    3. takes the trampoline's ``sigreturn`` system call: copies the frame back
       in, checks it (magic, a user-mode status register, a user EPC) and
       makes it the context the call returns to.

    The handler can edit the frame like any user memory: the trampoline
    advances the saved EPC to skip the faulting store, or leaves a result in
    the saved v0 for an emulated instruction.

Why it is built this way
    This is the path whose cost the exokernel paper sets against Aegis'
    three-register exception dispatch: every word of the frame is really
    written to and read back from simulated memory and charged ``copy_word``.

    A fault with no handler, or taken while its signal is blocked (a fault in
    its own handler), ends the process with status 128 + signal; the same
    fault left unfixed three times in a row does too (a real Unix would loop
    for ever; ExOS has the same rule).

Interface
    ``deliver(k, t, sig, code, vaddr, write, value, why) -> (skip, v0)``;
    ``sigreturn(k, t, frame)``.
"""

from __future__ import annotations

from typing import Any

from . import param, vm
from .lifecycle import Lifecycle
from .proc import SysError, Thread

_SIGNAME = {param.SIGFPE: "SIGFPE", param.SIGBUS: "SIGBUS", param.SIGSEGV: "SIGSEGV", param.SIGKILL: "SIGKILL"}


def deliver(k: Lifecycle, t: Thread, sig: int, code: int, vaddr: int, write: bool, value: int,
            why: str) -> tuple[bool, int]:
    """Deliver synchronous signal ``sig`` to ``t`` (we are in the kernel, trap frame
    saved): frame out, handler, and back through sigreturn. Returns (skip the store,
    the value the handler left in v0). No handler: the process dies."""
    p = t.proc
    tramp = p.sigtramp.get(sig)
    bit = 1 << sig
    if tramp is None:
        k.die(t, 128 + sig, f"{_SIGNAME[sig]}: {why}")
        return False, 0
    if t.blocked & bit:
        k.die(t, 128 + sig, f"fault inside the fault handler: {why}")
    if sig != param.SIGSEGV:  # the handler supplies the result: the instruction completes
        t.last_fault = None
    elif t.last_fault == (vaddr, write):
        t.fault_repeats += 1
        if t.fault_repeats >= param.MAX_REPEATED_FAULTS:
            k.die(t, 128 + sig, f"fault handler did not fix the fault at {vaddr:#x} "
                                   f"({t.fault_repeats} times in a row)")
    else:
        t.last_fault, t.fault_repeats = (vaddr, write), 0
    frame = [param.SIGFRAME_MAGIC, sig, int(code), vaddr & k.word_mask, t.blocked, 0]
    frame += [v & k.word_mask for v in t.tf]
    bc = k.bc
    if bc is not None:  # psignal, issig, psig, sendsig (baseline.py), and the rest of struct sigcontext:
        bc.charge("signal")  # the FP area (no FP state is modelled: zeros), the cause, the bad address
        frame += [0] * (bc.sigcontext_extra - 2) + [int(code), vaddr & k.word_mask]
    nbytes = len(frame) * k.word_bytes
    fa = t.sig_sp - nbytes
    if fa < k.sigstack_top(t.slot) - param.SIGSTACK_PAGES * k.page:
        k.die(t, 128 + sig, f"signal stack overflow delivering {_SIGNAME[sig]}")
    try:
        k.copyout_words_to(t.proc, fa, frame)
    except (SysError, vm.OutOfMemory):
        k.die(t, 128 + sig, f"cannot write the signal frame: {why}")
    k.signals += 1
    p.signals += 1
    k.loop.now += k.c.to_handler
    if k.touch is not None:
        k.touch(k.fp.signal, k.fp.proc(p))
    old_mask, old_sp = t.blocked, t.sig_sp
    t.blocked |= bit
    t.sig_sp = fa
    t.sig_depth += 1
    t.sigret = None
    k.return_to_user(t)  # to user mode, at the handler
    try:
        tramp(sig, int(code), vaddr, write, value, fa)  # the handler, then sigreturn(fa)
    finally:
        t.sig_depth -= 1
        if t.sigret is None:  # the handler did not come back through sigreturn
            t.blocked, t.sig_sp = old_mask, old_sp
    ret = t.sigret
    assert ret is not None
    t.sigret = None
    epc, v0 = ret
    skip = epc == param.USER_TEXT + param.INSN_BYTES
    if skip:
        t.last_fault = None  # skipping the store is a way of dealing with the fault
    if v0 >> (8 * k.word_bytes - 1):
        v0 -= 1 << (8 * k.word_bytes)
    return skip, v0

def sigreturn(k: Lifecycle, t: Thread, fa: Any) -> None:
    """Copy the signal frame at ``fa`` back in, check it, and make it the context the
    system call returns to (called from the system call of that name)."""
    top = k.sigstack_top(t.slot)
    n = k.sigframe_words
    if type(fa) is not int or not top - param.SIGSTACK_PAGES * k.page <= fa <= top - n * k.word_bytes \
            or fa % k.word_bytes:
        raise SysError("EINVAL", f"sigreturn: {fa!r} is not a signal frame on this thread's signal stack")
    frame = k.copyin_words_from(t.proc, fa, n)
    k.loop.now += k.c.frame_checks
    if k.bc is not None:
        k.bc.charge("sigreturn")
    if k.touch is not None:
        k.touch(k.fp.sigreturn, 0)
    if frame[0] != param.SIGFRAME_MAGIC or frame[1] not in param.SIGNALS:
        raise SysError("EINVAL", f"sigreturn: no signal frame at {fa:#x}")
    tf = frame[param.SIGFRAME_HEADER:param.SIGFRAME_WORDS]
    if tf[31] != param.SR_USER or tf[32] >= k.user_top:
        raise SysError("EINVAL", "sigreturn: the frame would return to kernel mode")
    t.tf[:] = tf
    t.blocked = frame[4]
    t.sig_sp = fa + n * k.word_bytes
    t.sigret = (tf[32], tf[1])  # EPC, v0
    k.sigreturns += 1
