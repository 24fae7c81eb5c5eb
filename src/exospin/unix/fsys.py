"""The file system's system calls: argument checks, the path copied in, the lock, the call.

What this models
    The ``vfs_syscalls.c`` / ``vfs_vnops.c`` half of a BSD kernel for one
    local file system: ``open`` (O_CREAT, O_EXCL, O_TRUNC, O_APPEND),
    ``read``/``write``/``close`` of a file descriptor (the calls pipes and
    sockets use: syscalls.py hands a file's descriptor here), ``lseek``,
    ``fsync``, ``unlink``, ``mkdir``, ``rmdir``, ``readdir``, ``stat``,
    ``rename`` and ``fadvise``. Each checks every argument before anything
    changes, copies a path in (copyinstr: charged a word at a time), takes
    the file system's lock and calls the file system (ffs_vnops.py).

    ``fadvise`` is accepted, checked and ignored, as a 1995 kernel would
    (posix_fadvise came later; BSD's cache takes no hints): a bad descriptor,
    advice or range is still an error.

Why it is built this way
    One module for the calls keeps syscalls.py the table it is; the file
    system (ffs.py) never sees an unchecked argument.

Interface
    ``sys_open``, ``sys_lseek``, ``sys_fsync``, ``sys_unlink``, ``sys_mkdir``,
    ``sys_rmdir``, ``sys_readdir``, ``sys_stat``, ``sys_rename``,
    ``sys_fadvise``, ``file_read``, ``file_write`` (syscalls.TABLE lists them);
    ``NFILE``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from . import ipc, param
from .ffs import OpenFile
from .ffs_vnops import FileSystem
from .proc import SysError, Thread, VFile
from .sched import Scheduler

O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 3, 0, 1, 2
O_CREAT, O_EXCL, O_TRUNC, O_APPEND = 0o100, 0o200, 0o1000, 0o2000
_FLAGS = O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_APPEND
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2
FADV_MAX = 5

#: Entries in the kernel's file table, all processes together (ENFILE past it).
NFILE = param.MAX_FDS * 4

T = TypeVar("T")


def _fs(k: Scheduler, call: str) -> FileSystem:
    fs = k.fs
    if fs is None or not fs.mounted:
        raise SysError("ENOSYS", f"{call}: no file system is mounted (boot with a disk)")
    k.loop.now += fs.c.call
    fs.calls[call] = fs.calls.get(call, 0) + 1
    return fs  # type: ignore[no-any-return]


def _path(k: Scheduler, call: str, path: Any) -> str:
    if not isinstance(path, str):
        raise SysError("EFAULT" if path is None else "EINVAL",
                       f"{call}: a path must be a str, not {type(path).__name__}")
    k.charge_copy(len(path.encode()) + 1, out=False)  # copyinstr, the NUL included
    return path


def _locked(fs: FileSystem, fn: Callable[[], T]) -> T:
    fs.lock()
    try:
        return fn()
    finally:
        fs.unlock()


def _of(k: Scheduler, t: Thread, fd: Any, call: str) -> OpenFile:
    k.loop.now += k.c.mem_ref + k.c.insn
    f = t.proc.fds.get(fd) if type(fd) is int else None
    if f is None:
        raise SysError("EBADF", f"{call}: {fd!r} is not an open descriptor")
    if not isinstance(f, VFile):
        raise SysError("ESPIPE", f"{call}: descriptor {fd} is a pipe or a socket, not a file")
    return f.of  # type: ignore[no-any-return]


def sys_open(k: Scheduler, t: Thread, path: Any, flags: Any, mode: Any) -> int:
    fs = _fs(k, "open")
    path = _path(k, "open", path)
    if type(flags) is not int or flags & ~_FLAGS or flags & O_ACCMODE == O_ACCMODE:
        raise SysError("EINVAL", f"open: bad flags {flags!r} (O_RDONLY, O_WRONLY or O_RDWR, with O_CREAT, "
                                 "O_EXCL, O_TRUNC, O_APPEND)")
    if type(mode) is not int or not 0 <= mode <= 0o7777:
        raise SysError("EINVAL", f"open: mode must be an int from 0 to 0o7777, not {mode!r}")
    p = t.proc
    if len(p.fds) >= param.MAX_FDS:
        raise SysError("EMFILE", f"open: no descriptor left ({param.MAX_FDS} are open)")
    if len(fs.files) >= NFILE:
        raise SysError("ENFILE", f"open: the kernel's file table is full ({NFILE} open files)")
    writing = flags & O_ACCMODE != O_RDONLY
    of = _locked(fs, lambda: fs.open(path, flags, bool(flags & O_CREAT), bool(flags & O_EXCL),
                                     bool(flags & O_TRUNC), writing))
    return ipc._new_fd(k, p, VFile(of))


def file_read(k: Scheduler, t: Thread, f: VFile, fd: int, n: Any) -> bytes:
    fs = _fs(k, "read")
    of: OpenFile = f.of
    if type(n) is not int or n < 0:
        raise SysError("EINVAL", f"read: count must be a non-negative int, not {n!r}")
    if of.flags & O_ACCMODE == O_WRONLY:
        raise SysError("EBADF", f"read: descriptor {fd} is open for writing only")
    return _locked(fs, lambda: fs.read(of, n))


def file_write(k: Scheduler, t: Thread, f: VFile, fd: int, data: Any) -> int:
    fs = _fs(k, "write")
    of: OpenFile = f.of
    if not isinstance(data, (bytes, bytearray)):
        raise SysError("EFAULT", f"write: the buffer must be bytes, not {type(data).__name__}")
    if of.flags & O_ACCMODE == O_RDONLY:
        raise SysError("EBADF", f"write: descriptor {fd} is open for reading only")
    return _locked(fs, lambda: fs.write(of, bytes(data), bool(of.flags & O_APPEND)))


def sys_lseek(k: Scheduler, t: Thread, fd: Any, offset: Any, whence: Any) -> int:
    fs = _fs(k, "lseek")
    of = _of(k, t, fd, "lseek")
    if type(offset) is not int:
        raise SysError("EINVAL", f"lseek: offset must be an int, not {offset!r}")
    if whence not in (SEEK_SET, SEEK_CUR, SEEK_END) or type(whence) is not int:
        raise SysError("EINVAL", f"lseek: whence must be SEEK_SET, SEEK_CUR or SEEK_END, not {whence!r}")
    base = 0 if whence == SEEK_SET else of.offset if whence == SEEK_CUR else of.ip.size
    if base + offset < 0:
        raise SysError("EINVAL", f"lseek: the offset would be {base + offset}, before the start of the file")
    k.loop.now += 2 * k.c.mem_ref
    del fs
    of.offset = base + offset
    return of.offset


def sys_fsync(k: Scheduler, t: Thread, fd: Any) -> None:
    fs = _fs(k, "fsync")
    of = _of(k, t, fd, "fsync")
    _locked(fs, lambda: fs.fsync(of))


def _path_call(name: str) -> Callable[..., Any]:
    def call(k: Scheduler, t: Thread, path: Any, *rest: Any) -> Any:
        fs = _fs(k, name)
        p = _path(k, name, path)
        return _locked(fs, lambda: getattr(fs, name)(p))
    call.__name__ = f"sys_{name}"
    return call


sys_unlink = _path_call("unlink")
sys_rmdir = _path_call("rmdir")
sys_readdir = _path_call("readdir")
sys_stat = _path_call("stat")


def sys_mkdir(k: Scheduler, t: Thread, path: Any, mode: Any) -> None:
    fs = _fs(k, "mkdir")
    p = _path(k, "mkdir", path)
    if type(mode) is not int or not 0 <= mode <= 0o7777:
        raise SysError("EINVAL", f"mkdir: mode must be an int from 0 to 0o7777, not {mode!r}")
    _locked(fs, lambda: fs.mkdir(p))


def sys_rename(k: Scheduler, t: Thread, old: Any, new: Any) -> None:
    fs = _fs(k, "rename")
    a = _path(k, "rename", old)
    b = _path(k, "rename", new)
    _locked(fs, lambda: fs.rename(a, b))


def sys_fadvise(k: Scheduler, t: Thread, fd: Any, offset: Any, length: Any, advice: Any, priority: Any) -> None:
    fs = _fs(k, "fadvise")
    _of(k, t, fd, "fadvise")
    if type(advice) is not int or not 0 <= advice <= FADV_MAX:
        raise SysError("EINVAL", f"fadvise: {advice!r} is not an advice (FADV_NORMAL .. FADV_NOREUSE)")
    for what, v in (("offset", offset), ("length", length)):
        if type(v) is not int or v < 0:
            raise SysError("EINVAL", f"fadvise: {what} must be a non-negative int, not {v!r}")
    if priority is not None and type(priority) is not int:
        raise SysError("EINVAL", f"fadvise: priority must be an int or None, not {priority!r}")
    fs.fadvise_ignored += 1  # BSD's cache takes no hints: checked, then ignored
