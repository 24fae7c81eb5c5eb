"""copyin and copyout: the kernel reading and writing user memory.

What this models
    The 4.3BSD/Ultrix ``copyin``/``copyout`` a system call uses for an
    argument that is not in a register (a pipe's bytes, a signal frame):
    the user address is translated through the process's page table a page
    at a time (a walk per page touched, vm.user_word), a fault is EFAULT for
    the call, and every word copied is charged.

Why it is built this way
    Copying is charged where it happens and counted (``copyin_words``,
    ``copyout_words``), so a benchmark can see what a path copied. A layer of
    its own because the VM's translation (vm.py) acts on the kernel's state
    below it, and IPC and signals (ipc.py, signals.py) use it from above.

Interface (to the other layers and subsystems)
    ``copyin_words_from(p, va, n)``, ``copyout_words_to(p, va, values)``,
    ``charge_copy(nbytes, out)``.
"""

from __future__ import annotations

from . import vm
from .core import Core
from .proc import Proc


class UserCopy(Core):
    """copyin and copyout (see the module note)."""

    def _user_words(self, p: Proc, va: int, n: int, write: bool) -> list[int]:
        """Indices in physical memory of ``n`` user words from ``va``: one page-table walk
        per page touched (vm.user_word), as copyin/copyout translate a page at a time."""
        out: list[int] = []
        i = 0
        while i < n:
            a = va + i * self.word_bytes
            base = vm.user_word(self, p, a, write)
            room = min(n - i, (self.page - (a & (self.page - 1))) >> self.word_shift)
            out.extend(range(base, base + room))
            i += room
        return out

    def copyin_words_from(self, p: Proc, va: int, n: int) -> list[int]:
        """copyin: ``n`` words of user memory from ``va`` (SysError EFAULT if not readable)."""
        words = self.memory.words
        idx = self._user_words(p, va, n, False)
        out = [words[i] for i in idx]
        self.loop.now += n * self.c.copy_word
        if self.touch is not None:
            self.cpu.touch_words(idx, False)
        self.copyin_words += n
        return out

    def copyout_words_to(self, p: Proc, va: int, values: list[int]) -> None:
        """copyout: ``values`` into user memory at ``va`` (SysError EFAULT if not writable)."""
        words = self.memory.words
        idx = self._user_words(p, va, len(values), True)
        for i, v in zip(idx, values, strict=True):
            words[i] = v
        self.loop.now += len(values) * self.c.copy_word
        if self.touch is not None:
            self.cpu.touch_words(idx, True)
        self.copyout_words += len(values)

    def charge_copy(self, nbytes: int, out: bool) -> None:
        """Charge copying ``nbytes`` between a user buffer and the kernel, a word at a time."""
        n = -(-nbytes // self.word_bytes)
        self.loop.now += n * self.c.copy_word
        if out:
            self.copyout_words += n
        else:
            self.copyin_words += n
