"""Unix tunables and the shapes of the kernel's save areas, in one place (xv6's param.h).

Each is a kernel policy knob or a layout the kernel really copies, not a
hardware cost: costs come from the machine profile, multiplied by these
counts where a path saves, restores or copies that many words.
"""

#: Words of the trap frame saved on every entry to the kernel from user mode
#: (system call, exception, interrupt) and restored on the way out: the R3000's
#: 32 general registers less r0 (hard-wired zero) and k0/k1 (the kernel's own
#: scratch registers, never saved), plus HI, LO, the status register and EPC.
#: That is the frame of the MIPS ports of 4.3BSD/Ultrix and 4.4BSD (pmax
#: locore.s saves every general register on the common exception path). We use
#: the same count on the Alpha: OSF/1's PALcode pushes six words and the kernel's
#: entry code the integer registers it needs, close to the same total.
TRAPFRAME_WORDS = 33
#: Registers of the trap frame that are general registers (29 = 32 - zero, k0, k1).
TRAPFRAME_GPRS = 29
#: Callee-saved registers a context switch saves and restores (s0-s8, gp, sp, ra on
#: MIPS; swtch()/resume in the BSD kernels).
CALLEE_SAVED = 12
#: Words of a signal frame besides the trap frame: a magic word, the signal
#: number, its code (the exception cause), the faulting address, the signal mask
#: to restore, and the on-stack flag (4.3BSD's struct sigcontext carries the same).
SIGFRAME_HEADER = 6
SIGFRAME_WORDS = SIGFRAME_HEADER + TRAPFRAME_WORDS
#: The first word of every signal frame; sigreturn refuses a frame without it.
SIGFRAME_MAGIC = 0x5163_F4A3
#: The status register a user context must hold (R3000 KUp|IEp: user mode, interrupts
#: on); sigreturn refuses a frame that would return to kernel mode.
SR_USER = 0x0000_000C
#: Where user text "is": the EPC recorded for a fault (instructions are 4 bytes).
USER_TEXT = 0x0040_0000
INSN_BYTES = 4

#: Scheduling quantum in µs of simulated time. 4.3BSD takes a clock tick at 100 Hz and
#: may reschedule on any tick where a runnable process has a better priority (a CPU-bound
#: one's decays every four ticks; roundrobin() forces a switch every 100 ms); we model
#: that as round robin with one tick, 10 ms, as the quantum.
QUANTUM_US = 10_000.0
#: Processes that may exist at once: one address-space identifier each (6-bit ASIDs,
#: less ASID 0, which the kernel keeps for itself).
MAX_PROCS = 63
#: Kernel threads that may exist at once (each holds one frame of kernel stack).
MAX_THREADS = 256
#: Open descriptors per process (4.3BSD NOFILE).
MAX_FDS = 64
#: Where mmap hands out address space, and where each thread's signal stack is:
#: thread slot s uses SIGSTACK_PAGES pages from SIGSTACK_BASE + s * SIGSTACK_PAGES pages.
MMAP_BASE = 0x1000_0000
SIGSTACK_BASE = 0x7000_0000
SIGSTACK_PAGES = 1
#: The same fault, unfixed by the handler, this often in a row: the process is killed
#: (a real Unix would loop for ever; ExOS has the same rule, so both behave alike).
MAX_REPEATED_FAULTS = 3
#: RPC procedure numbers a process may register: 0 .. MAX_RPC_PROCS - 1.
MAX_RPC_PROCS = 15

# Signal numbers (4.3BSD)
SIGKILL = 9
SIGBUS = 10
SIGSEGV = 11
SIGFPE = 8
SIGNALS = (SIGFPE, SIGBUS, SIGSEGV)

#: Buffers in the buffer cache (bio.py), one 4 KB file-system block each, fixed at mount:
#: 4.4BSD's rule (machdep.c: "use 10% of memory for the first 2 Meg, 5% of the remaining"),
#: applied to the machine's memory: 128 buffers (512 KB) on an 8 MB DECstation 5000/125,
#: 230 on a 16 MB DEC 3000/400.
def nbuf_for(memory_bytes: int, block_bytes: int = 4096) -> int:
    first = min(memory_bytes, 2 << 20)
    return (first // 10 + (memory_bytes - first) // 20) // block_bytes
