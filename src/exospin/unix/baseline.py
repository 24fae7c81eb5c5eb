"""The faithful baselines: Ultrix 4.2 and DEC OSF/1 (Mach under a BSD layer) as counts of work.

What this models
    The code paths the two papers' baselines really ran, beside the lean
    ``unix`` kernel (a good monolithic kernel: the architecture's lower
    bound). ``ultrix`` is the exokernel paper's Ultrix 4.2 on the DECstation
    5000/125; ``osf1`` is the SPIN paper's DEC OSF/1 on the DEC 3000/400. Each
    is a table of *steps*, one per routine (or group of routines) the lean
    kernel does not run, and each step is a count of what that routine does:
    instructions, loads and stores, procedure calls, TLB operations, PALcode
    calls, words copied. ``BaselineCosts`` turns the counts into cycles with
    the machine profile's primitives (``insn``, ``mem_ref``, ``proc_call``,
    ``tlb_write``, ``tlb_probe``, ``copy_word``, ``trap_entry`` +
    ``trap_return`` for a PALcode call), so no step is a lump of time, and
    the same count costs what the machine makes it cost.

    Besides counted steps, a baseline changes two things the kernel really
    does (and the tests can see): the signal frame carries the whole
    ``struct sigcontext`` (the floating-point area, the cause and the bad
    addresses: ``sigcontext_extra`` more words, copied out and back in), and
    on ``osf1`` the user-level thread library is DECthreads, one Mach kernel
    thread per P-thread with its synchronisation in the kernel (libc.py).

Why it is built this way
    The counts come from the structure of the 4.3BSD, Ultrix and Mach 2.5/3.0
    sources as recalled (each step's ``routine`` names what it stands for);
    there is no source tree to count from here, so every count is an estimate
    of a path's length, made once from that structure and never fitted to a
    paper's result (docs/unix.md, "The faithful baselines"; docs/results.md
    lists each with its source and what it changed). Keeping them as data,
    not as code spread through the kernel, makes every count visible in one
    place and lets the lean kernel run unchanged: a kernel booted without a
    baseline has ``bc = None`` and takes none of these branches.

Interface
    ``BASELINES`` (name -> ``Baseline``), ``get_baseline(name)`` (raises
    ``UnknownBaseline``), ``Work``, ``Baseline``, ``GROUPS`` (what each hook of the
    kernel runs), ``footprints(baseline, word_bytes)``, ``BaselineCosts(baseline,
    profile, loop, cpu)`` with ``cycles[step]``, ``group_cycles[group]`` and
    ``charge(group, n)``. Under ``--memory detailed`` each charge also replays the
    steps' footprints (their code and data lines) through the machine's caches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ..machine import CPU, EventLoop, Footprint, KernelText, Profile


class UnknownBaseline(ValueError):
    """A baseline name that is not in :data:`BASELINES`."""


@dataclass(frozen=True, slots=True)
class Work:
    """What one step of a path does, counted: its cost follows from the profile."""

    routine: str  # the routine(s) of the real kernel this step stands for
    insns: int = 0  # ALU and branch instructions
    loads: int = 0  # loads (cache hits: the memory model adds what misses)
    stores: int = 0
    calls: int = 0  # procedure calls and returns
    copies: int = 0  # words copied memory to memory (load + store)
    tlb_probes: int = 0
    tlb_writes: int = 0  # TLB entries written or invalidated
    pal_calls: int = 0  # Alpha CALL_PAL round trips (swpctx, tbi, ...), entry + return
    source: str = ""  # where the count comes from

    def cycles(self, p: Profile) -> int:
        return (self.insns * p.insn + (self.loads + self.stores) * p.mem_ref + self.calls * p.proc_call
                + self.copies * p.copy_word + self.tlb_probes * p.tlb_probe + self.tlb_writes * p.tlb_write
                + self.pal_calls * (p.trap_entry + p.trap_return))


@dataclass(frozen=True, slots=True)
class Baseline:
    """A faithful baseline: its steps, and the shapes it changes."""

    name: str
    description: str
    machine: str  # the profile of the paper that measured it
    steps: Mapping[str, Work]
    sigcontext_extra: int  # words of struct sigcontext beyond the lean frame (FP area, cause, bad addresses)
    sigcontext_source: str
    mlen: int  # data bytes in one small mbuf (the pipe is a socket pair)
    mlen_source: str
    user_threads: str  # "uthreads" (user-level, as lean) or "decthreads" (one Mach thread per P-thread)


# Sources, cited once. None is either paper's result table.
_BSD = "4.3BSD source (Leffler, McKusick, Karels, Quarterman, The Design and Implementation of the 4.3BSD UNIX Operating System, Addison-Wesley 1989)"
_PMAX = "the MIPS port's trap.c/locore.s (Ultrix 4.x and 4.4BSD pmax share its structure)"
_MACH = "Mach 3.0 IPC and VM (Draves, 'The Revised IPC Interface', USENIX Mach Workshop 1990; Rashid et al., 'Machine-Independent Virtual Memory Management', ASPLOS 1987)"
_OSF = "DEC OSF/1 on Alpha: Mach 2.5-derived kernel with the BSD layer funnelled (Digital Technical Journal vol. 4 no. 4, 1992, the Alpha AXP issue)"
_AS = "as recalled; counted from the routine's structure, not measured"
_CB = "cross-check only: Chen and Bershad, SOSP 1993 (Ultrix and Mach 3.0 spend most extra time in memory stalls, not instructions)"

ULTRIX = Baseline(
    name="ultrix",
    description="Ultrix 4.2 on the DECstation 5000/125: 4.3BSD paths (syscall(), trap(), psignal/issig/psig/sendsig, "
                "sigreturn, swtch with its run queues, pipes as Unix-domain sockets, mprotect through vtopte)",
    machine="ds5000",
    steps=MappingProxyType({
        "entry": Work("locore user exception entry beyond the register save: switch to the kernel stack, load gp, "
                      "save Cause and BadVAddr, set up trap()/syscall()'s arguments, mask interrupts",
                      insns=12, loads=2, stores=4, calls=1, source=f"{_PMAX}; {_AS}"),
        "syscall": Work("syscall(): u.u_ar0, u.u_error, cnt.v_syscall++, sysent[] bound and indirect-call check, "
                        "the register arguments stored into u.u_arg[], r_val1/r_val2, u_eosys and u_error on return, "
                        "v0/v1/a3 and EPC+4 written back, the Ultrix audit switch tested",
                        insns=24, loads=14, stores=12, source=f"{_BSD}, §3.2 (system calls); {_PMAX}; {_AS}"),
        "setjmp": Work("setjmp(&u.u_qsave) before each call, so a signal can abort a sleeping call: s0-s8, sp, ra",
                       insns=2, stores=11, calls=1, source=f"{_BSD}, §4.4 (interrupted system calls); {_AS}"),
        "user_return": Work("the return to user mode: ISSIG(p), p_pri = p_usrpri, runrun, u_prof.pr_scale, curpri",
                            insns=6, loads=6, stores=2, source=f"{_BSD}, §4.4 (trap and syscall epilogue); {_AS}"),
        "trap": Work("trap(): cnt.v_trap++, the type decoded with USER, u.u_ar0, syst = ru_stime, the switch, "
                     "the profiling tick on the way out",
                     insns=20, loads=10, stores=6, calls=1, source=f"{_PMAX}; {_AS}"),
        "psignal": Work("psignal(p, sig): sigmask, p_sigignore/p_sigcatch/STRC tests, p_sig |= mask, p_stat switch, aston",
                        insns=25, loads=8, stores=3, calls=1, source=f"{_BSD}, §4.7 (posting a signal); {_AS}"),
        "issig": Work("issig(): ffs(p_sig & ~p_sigmask), the STRC and p_sigignore tests, u_signal[sig], p_cursig = sig",
                      insns=30, loads=8, stores=2, calls=2, source=f"{_BSD}, §4.7 (delivering a signal); {_AS}"),
        "psig": Work("psig(): action = u_signal[sig], the return mask (u_oldmask or p_sigmask), p_sigmask |= u_sigmask[sig], "
                     "ru_nsignals++, call sendsig, p_cursig = 0",
                     insns=20, loads=10, stores=5, calls=1, source=f"{_BSD}, §4.7; {_AS}"),
        "sendsig": Work("sendsig(): the signal stack chosen (u_sigonstack, u_sigsp), useracc over the frame, the sigcontext "
                        "built on the kernel stack (bcopy of the 32 registers, the FP area, cause, bad addresses) "
                        "before its copyout, a0-a3, sp, ra and pc set for the trampoline",
                        insns=30, loads=12, stores=10, calls=3, copies=32 + 36,
                        source=f"{_PMAX} (sendsig builds ksc and copies it out); {_AS}"),
        "sigtramp": Work("libc's sigtramp: the handler's arguments, jalr handler, sigreturn(scp)",
                         insns=6, loads=2, calls=1, source=f"Ultrix libc sigtramp; {_AS}"),
        "sigreturn": Work("sigreturn(): useracc over the frame, u_onstack, p_sigmask = sc_mask &~ sigcantmask, "
                          "sc_pc, the registers and the FP area copied from the sigcontext into the PCB, u_eosys = JUSTRETURN",
                          insns=20, loads=8, stores=6, calls=2, copies=32 + 36,
                          source=f"{_BSD}, §4.7 (sigreturn); {_PMAX}; {_AS}"),
        "swtch": Work("swtch(): cnt.v_swtch++, whichqs loaded, ffs over it, remque from qs[i], the bit cleared when the "
                      "queue empties, p_rlink = 0; resume(): the new u-area's two wired TLB entries written",
                      insns=20, loads=10, stores=6, calls=2, tlb_writes=2,
                      source=f"{_BSD}, §4.2 (context switching, the 32 run queues); {_PMAX} (UPAGES wired); {_AS}"),
        "sleep": Work("sleep(): splhigh, p_wchan/p_slptime/p_pri, the slpque hash chain, ISSIG before and after, "
                      "p_stat = SSLEEP, spl0, ru_nvcsw++",
                      insns=14, loads=6, stores=5, calls=1, source=f"{_BSD}, §4.3 (sleep); {_AS}"),
        "wakeup": Work("wakeup(): splhigh, the slpque hash, the chain walked", insns=6, loads=1,
                       source=f"{_BSD}, §4.3 (wakeup); {_AS}"),
        "wake_one": Work("wakeup() for one sleeper: p_wchan = 0, unlinked, p_slptime, p_stat = SRUN, setrq (insque and "
                         "the whichqs bit), the p_pri < curpri test and runrun",
                         insns=12, loads=6, stores=6, calls=1, source=f"{_BSD}, §4.3; {_AS}"),
        "pipe_rw": Work("read()/write() on a pipe, which is a Unix-domain stream socket: rwuio's uio and iovec, the FREAD/"
                        "FWRITE test, fo_rw (soo_rw), sosend/soreceive's sblock, sbspace/sb_cc, pr_usrreq "
                        "(PRU_SEND's sbappend to the peer, or PRU_RCVD), sorwakeup/sowwakeup, sbunlock",
                        insns=70, loads=30, stores=20, calls=8, source=f"{_BSD}, §11.2-11.5 (sosend, soreceive, pipes); {_AS}"),
        "mbuf_get": Work("MGET: splimp, the free list popped, m_type/m_off/m_len/m_next set, mbstat; sbappend's link",
                         insns=10, loads=5, stores=6, calls=1, source=f"{_BSD}, §11.3 (mbufs); {_AS}"),
        "mbuf_free": Work("sbfree and MFREE: sb_cc and sb_mbcnt adjusted, the mbuf back on the free list",
                          insns=8, loads=4, stores=4, calls=1, source=f"{_BSD}, §11.3; {_AS}"),
        "mprotect": Work("mprotect(): the range checked against the process's text, data and stack segments and its "
                         "mapped regions, the protection code converted",
                         insns=20, loads=8, stores=2, calls=1, source=f"Ultrix 4.2 mprotect (4.3BSD VM); {_AS}"),
        "prot_page": Work("per page: vtopte (segment and offset to the PTE), the protection field rewritten, newptes's "
                          "flush of that page's TLB entry (probe, invalidate)",
                          insns=14, loads=6, stores=1, calls=2, tlb_probes=1,
                          source=f"{_BSD}, §5.4 (chgprot, newptes); {_PMAX}; {_AS}"),
        "fault_lookup": Work("trap() on a TLB modified or invalid fault: vtopte, the segment checked, the protection tested",
                             insns=10, loads=4, stores=1, calls=1, source=f"{_PMAX}; {_AS}"),
        "pmap_enter": Work("the PTE made valid or writable after the fault (PG_M, PG_V), tlbdropin",
                           insns=6, loads=2, stores=2, calls=1, source=f"{_PMAX}; {_AS}"),
    }),
    sigcontext_extra=36,
    sigcontext_source="Ultrix 4.2 <signal.h> struct sigcontext for MIPS, as recalled: sc_onstack, sc_mask, sc_pc, "
                      "sc_regs[32], sc_ownedfp, sc_fpregs[32], sc_fpc_csr, sc_fpc_eir, sc_mdhi, sc_mdlo, sc_cause, "
                      "sc_badvaddr, sc_badpaddr: 75 words, 36 more than the lean frame's 39",
    mlen=112,
    mlen_source="4.3BSD <sys/mbuf.h>: MSIZE 128 less the 16-byte header (MLEN 112)",
    user_threads="uthreads",
)

OSF1 = Baseline(
    name="osf1",
    description="DEC OSF/1 on the DEC 3000/400: Mach under a funnelled BSD layer (the BSD system-call emulation path, "
                "Mach messages through ports for cross-address-space calls, DECthreads over Mach kernel threads, "
                "vm_map entries and the pmap layer for protection changes and faults)",
    machine="alpha3000",
    steps=MappingProxyType({
        "entry": Work("the kernel's entry after PALcode's six-word push: the rest of the exception frame's set-up, "
                      "current_thread() and its uthread/utask (the u area is per thread), the stack switch",
                      insns=14, loads=6, stores=4, calls=1, source=f"{_OSF}; {_AS}"),
        "syscall": Work("syscall(): cnt.v_syscall++, the sysent bound and indirect check, the argument vector from a0-a5, "
                        "unix_master() before the BSD routine and unix_release() after (the funnel), u area reached "
                        "through current_thread(), error/rval into v0, a3",
                        insns=40, loads=24, stores=12, calls=3, source=f"{_OSF}; {_BSD}, §3.2; {_AS}"),
        "user_return": Work("the return: ISSIG, need_ast and csw_needed, thread_ast, the profiling test",
                            insns=10, loads=8, stores=2, calls=1, source=f"{_MACH}; {_OSF}; {_AS}"),
        "trap": Work("trap(): the exception decoded, Mach's exception() looks for the thread's and the task's "
                     "exception ports (none), then the BSD layer turns it into a signal (unix exception handling)",
                     insns=30, loads=14, stores=4, calls=3, source=f"{_MACH} (exception ports); {_OSF}; {_AS}"),
        "psignal": Work("psignal(): as 4.3BSD, plus the thread to signal chosen and thread_ast_set",
                        insns=30, loads=10, stores=4, calls=2, source=f"{_BSD}, §4.7; {_OSF}; {_AS}"),
        "issig": Work("issig(): as 4.3BSD (ffs over the pending mask, the tests, p_cursig)",
                      insns=30, loads=8, stores=2, calls=2, source=f"{_BSD}, §4.7; {_AS}"),
        "psig": Work("psig(): as 4.3BSD (action, return mask, sigmask, sendsig)",
                     insns=20, loads=10, stores=5, calls=1, source=f"{_BSD}, §4.7; {_AS}"),
        "sendsig": Work("sendsig(): the stack chosen, useracc, the sigcontext built (the 32 integer registers, the FP "
                        "area, the trap arguments) before its copyout, the handler's registers",
                        insns=30, loads=12, stores=10, calls=3, copies=32 + 42, source=f"{_OSF}; {_AS}"),
        "sigtramp": Work("libc's __sigtramp: the handler called, sigreturn(scp)",
                         insns=6, loads=2, calls=1, source=f"OSF/1 libc; {_AS}"),
        "sigreturn": Work("sigreturn(): useracc, the mask, pc and ps checked, registers and the FP area into the PCB",
                          insns=24, loads=10, stores=6, calls=2, copies=32 + 42, source=f"{_OSF}; {_AS}"),
        "swtch": Work("thread_block -> thread_select (the 32 run queues from the low hint), thread_invoke, "
                      "thread_dispatch of the old thread, switch_context: the FP callee-saved f2-f9 too, and the "
                      "PALcode swpctx (new ksp, usp, ptbr, asn loaded)",
                      insns=45, loads=28, stores=18, calls=4, pal_calls=1,
                      source=f"{_MACH} (thread_block, thread_select); Alpha AXP Architecture Reference Manual (swpctx); {_AS}"),
        "sleep": Work("the BSD sleep() over Mach: assert_wait on the event, thread_block, the ISSIG checks",
                      insns=20, loads=8, stores=6, calls=3, source=f"{_OSF} (BSD sleep on Mach events); {_AS}"),
        "wakeup": Work("wakeup() -> thread_wakeup: the event hashed, the wait bucket locked and walked",
                       insns=10, loads=3, stores=1, calls=1, source=f"{_MACH}; {_AS}"),
        "wake_one": Work("one waiter: clear_wait, thread_setrun (run queue insert, whichq hint, the preemption test)",
                         insns=16, loads=8, stores=7, calls=2, source=f"{_MACH}; {_AS}"),
        "pipe_rw": Work("read()/write() on a pipe, a stream socket pair: uio, fo_rw, sosend/soreceive with sblock, "
                        "pr_usrreq, the wakeups, sbunlock",
                        insns=70, loads=30, stores=20, calls=8, source=f"{_BSD}, §11.2-11.5; {_AS}"),
        "mbuf_get": Work("MGET and sbappend's link", insns=10, loads=5, stores=6, calls=1, source=f"{_BSD}, §11.3; {_AS}"),
        "mbuf_free": Work("sbfree and MFREE", insns=8, loads=4, stores=4, calls=1, source=f"{_BSD}, §11.3; {_AS}"),
        "mprotect": Work("mprotect() -> vm_map_protect: map locked, vm_map_lookup_entry (hint, list), the entry clipped "
                         "at both ends (two vm_map_entry_create and 16-word entry copies), max_protection checked, "
                         "vm_map_simplify_entry, unlocked",
                         insns=80, loads=30, stores=26, calls=8, copies=32, source=f"{_MACH} (vm_map_protect, clipping); {_AS}"),
        "prot_page": Work("per page: pmap_protect's three-level pmap_pte walk, the PTE rewritten, tbis (a PALcode call)",
                          insns=8, loads=4, stores=1, calls=0, pal_calls=1,
                          source=f"{_MACH} (pmap layer); Alpha AXP ARM (three-level page table, tbis); {_AS}"),
        "fault_lookup": Work("vm_fault: vm_map_lookup (lock, entry, protection), the object and offset, vm_object_lock, "
                             "vm_page_lookup (hash on object and offset), the page's flags, unlock",
                             insns=60, loads=30, stores=8, calls=5, source=f"{_MACH} (vm_fault, vm_map_lookup, vm_page_lookup); {_AS}"),
        "pmap_enter": Work("pmap_enter: pmap_pte walk, the pv list entry, the PTE written, tbis; vm_page activation",
                           insns=30, loads=12, stores=10, calls=3, pal_calls=1, source=f"{_MACH} (pmap_enter); {_AS}"),
        "msg_send": Work("mach_msg send: ipc_kmsg_get, ipc_kmsg_copyin_header (ipc_entry_lookup of the destination "
                         "and the reply names, ipc_right_copyin, make-send-once), the body's type descriptor, "
                         "ipc_mqueue_send (port locked, the queue limit, the waiting receiver dequeued and handed the "
                         "message, thread_go)",
                         insns=110, loads=45, stores=28, calls=10, source=f"{_MACH} (mach_msg_trap, ipc_kmsg, ipc_mqueue); {_AS}"),
        "msg_receive": Work("mach_msg receive: the receive right looked up, ipc_mqueue_receive (block with a "
                            "continuation, then the message taken on wake-up), ipc_kmsg_copyout_header (the reply "
                            "right entered in the receiver's space), the body, ipc_kmsg_free",
                            insns=80, loads=30, stores=20, calls=8, source=f"{_MACH}; {_AS}"),
        "msg_header": Work("the message header and one type descriptor copied in (send) or out (receive): "
                           "msgh_bits, size, remote, local, seqno, id, type",
                           copies=7, source=f"{_MACH} (mach_msg_header_t, mach_msg_type_t)"),
        "mig_stub": Work("a MIG stub in user space: the request or reply message packed, msgh_id checked and "
                         "demultiplexed on the server side",
                         insns=20, loads=6, stores=10, calls=1, source=f"{_MACH} (MIG-generated stubs); {_AS}"),
        "thread_create": Work("Mach thread_create, thread_set_state and thread_resume as the BSD layer and DECthreads use "
                              "them: the thread zone, its kernel stack, the thread and uthread fields, the task's list, "
                              "the 32-word state copied in",
                              insns=150, loads=40, stores=80, calls=8, copies=32, source=f"{_MACH} (thread_create); {_AS}"),
        "pthread_create": Work("DECthreads pthread_create: the attribute object, a cached stack and TCB, the thread's "
                               "queue links and its start routine",
                               insns=120, loads=40, stores=50, calls=6, source=f"DECthreads (OSF/1 P-threads, draft 4); {_AS}"),
        "pthread_join": Work("DECthreads pthread_join: the TCB's lock, the state test, the result, the TCB freed",
                             insns=40, loads=15, stores=10, calls=3, source=f"DECthreads; {_AS}"),
        "pthread_sync": Work("a DECthreads mutex or condition operation before it goes into the kernel: the object's "
                             "state word, the owner, the waiter count",
                             insns=15, loads=5, stores=3, calls=1, source=f"DECthreads; {_AS}"),
    }),
    sigcontext_extra=42,
    sigcontext_source="DEC OSF/1 <signal.h> struct sigcontext for Alpha, as recalled: sc_onstack, sc_mask, sc_pc, "
                      "sc_ps, sc_regs[32], sc_ownedfp, sc_fpregs[32], sc_fpcr, sc_fp_control, two reserved, "
                      "sc_ssize, sc_sbase, sc_traparg_a0-a2, sc_fp_trap_pc, sc_fp_trigger_sum, sc_fp_trigger_inst: "
                      "81 words, 42 more than the lean frame's 39",
    mlen=224,
    mlen_source="OSF/1 (4.3BSD-Reno mbufs on a 64-bit machine): MSIZE 256 less the header, as recalled",
    user_threads="decthreads",
)

BASELINES: Mapping[str, Baseline] = MappingProxyType({b.name: b for b in (ULTRIX, OSF1)})


def get_baseline(name: str) -> Baseline:
    """The baseline called ``name``, or :class:`UnknownBaseline` with the names known."""
    try:
        return BASELINES[name]
    except (KeyError, TypeError):
        raise UnknownBaseline(f"unknown baseline {name!r} (known: {', '.join(BASELINES)})") from None


#: Every step a kernel path may charge; a baseline that lacks one charges nothing for it.
STEPS = ("entry", "syscall", "setjmp", "user_return", "trap", "psignal", "issig", "psig", "sendsig", "sigtramp",
         "sigreturn", "swtch", "sleep", "wakeup", "wake_one", "pipe_rw", "mbuf_get", "mbuf_free", "mprotect",
         "prot_page", "fault_lookup", "pmap_enter", "msg_send", "msg_receive", "msg_header", "mig_stub",
         "thread_create", "pthread_create", "pthread_join", "pthread_sync")

for _b in BASELINES.values():
    assert set(_b.steps) <= set(STEPS), _b.name


#: What each hook of the kernel charges: a group of steps run together at one place.
GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "syscall": ("entry", "syscall", "setjmp"),  # _syscall, after the trap frame
    "user_return": ("user_return",),
    "trap": ("entry", "trap"),  # _exception, an exception other than a system call
    "page_fault": ("entry", "trap", "fault_lookup"),  # _page_fault
    "fault_lookup": ("fault_lookup",),  # _mod_fault
    "pmap_enter": ("pmap_enter",),
    "signal": ("psignal", "issig", "psig", "sendsig", "sigtramp"),
    "sigreturn": ("sigreturn",),
    "swtch": ("swtch",), "sleep": ("sleep",), "wakeup": ("wakeup",), "wake_one": ("wake_one",),
    "pipe_rw": ("pipe_rw",), "mbuf_get": ("mbuf_get",), "mbuf_free": ("mbuf_free",),
    "mprotect": ("mprotect",), "prot_page": ("prot_page",),
    "msg_send": ("msg_send", "msg_header", "mig_stub"), "msg_receive": ("msg_receive", "msg_header", "mig_stub"),
    "thread_create": ("thread_create",),
})

#: Where the baselines' own kernel code and data sit in the physical address space, for the
#: cache model only (no simulated memory is there): above both machines' memory, one run of
#: code per step (KernelText) and one data area per step.
TEXT_BASE = 0x0800_0000
DATA_BASE = 0x0C00_0000


def footprints(b: Baseline, word_bytes: int) -> dict[str, Footprint]:
    """Each step's cache lines: one instruction fetched per instruction it executes (its
    ALU instructions, loads, stores, call and return, TLB operations; a copy loop's four),
    its loads and stores to its own data area, and a copy's source and destination."""
    text = KernelText(TEXT_BASE)
    out: dict[str, Footprint] = {}
    data = DATA_BASE
    for name in STEPS:
        w = b.steps.get(name)
        if w is None:
            continue
        n = (w.insns + w.loads + w.stores + 2 * w.calls + 2 * (w.tlb_probes + w.tlb_writes)
             + (4 if w.copies else 0) + 2 * w.pal_calls)
        src = data + w.loads * word_bytes  # a copy's source, then its destination
        dst = src + w.copies * word_bytes
        reads = tuple(data + i * word_bytes for i in range(w.loads)) + tuple(src + i * word_bytes
                                                                             for i in range(w.copies))
        writes = tuple(data + i * word_bytes for i in range(w.stores)) + tuple(dst + i * word_bytes
                                                                               for i in range(w.copies))
        out[name] = text.footprint(f"{b.name}.{name}", n, reads, writes)
        data = -(-(dst + w.copies * word_bytes + max(0, w.stores - w.loads) * word_bytes) // 64) * 64
    return out


def _lines(addrs: tuple[int, ...], shift: int) -> tuple[int, ...]:
    """``addrs`` less each one on the same cache line as the one before it: a fetch or a
    load right after one to its line hits, so replaying it changes no stall (stores all
    stay: each goes to the write buffer)."""
    out: list[int] = []
    last = -1
    for a in addrs:
        if a >> shift != last:
            out.append(a)
            last = a >> shift
    return tuple(out)


class BaselineCosts:
    """A baseline's steps on one machine: ``charge(group, n)`` advances the clock by the
    group's cycles and replays its footprint through the caches (nothing under ``ideal``)."""

    def __init__(self, b: Baseline, p: Profile, loop: EventLoop | None = None, cpu: CPU | None = None) -> None:
        self.baseline = b
        self.loop, self.cpu = loop, cpu
        cyc = {s: (b.steps[s].cycles(p) if s in b.steps else 0) for s in STEPS}
        self.cycles: Mapping[str, int] = MappingProxyType(cyc)
        fps = footprints(b, p.word_bytes)
        empty = Footprint()
        h = None if cpu is None else cpu.hierarchy
        ishift = 0 if h is None else h.icache.lshift
        dshift = 0 if h is None else h.dcache.lshift
        self._groups: dict[str, tuple[int, Footprint]] = {}
        for g, steps in GROUPS.items():
            parts = [fps.get(s, empty) for s in steps]
            fp = Footprint(_lines(tuple(a for f in parts for a in f.fetches), ishift),
                           _lines(tuple(a for f in parts for a in f.reads), dshift),
                           tuple(a for f in parts for a in f.writes))
            self._groups[g] = (sum(cyc[s] for s in steps), fp)
        self.group_cycles: Mapping[str, int] = MappingProxyType({g: c for g, (c, _) in self._groups.items()})
        self.mlen = b.mlen
        self.mach_rpc = "msg_send" in b.steps
        self.sigcontext_extra = b.sigcontext_extra

    def charge(self, group: str, n: int = 1) -> None:
        """Run group ``group`` ``n`` times: its cycles, and its footprint each time."""
        cycles, fp = self._groups[group]
        if n <= 0 or self.loop is None:
            return
        self.loop.now += n * cycles
        cpu = self.cpu
        if cpu is not None and cpu.hierarchy is not None:
            for _ in range(n):
                cpu.touch(fp)


__all__ = ["BASELINES", "GROUPS", "STEPS", "Baseline", "BaselineCosts", "UnknownBaseline", "Work", "get_baseline"]
