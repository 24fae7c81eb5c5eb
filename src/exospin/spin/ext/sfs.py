"""SFS: SPIN's file system, an extension on the kernel's block cache (spin.Cache).

The on-disk layout (4096-byte blocks; integers little-endian):

- block 0, the superblock: the magic b"SPINSFS1", then the file system's
  size in blocks, the number of inodes, the first inode block, the number
  of inode blocks, the first data block (six 4-byte words after the magic);
- block 1, the block bitmap: bit b set when block b is in use (blocks 0 to
  the first data block are always set);
- the inode table: 64 inodes of 64 bytes per block: mode (2 bytes: 0 free,
  1 a file, 2 a directory), link count (2), size in bytes (4), twelve
  direct block pointers and one single-indirect block (4 each; 0: none, a
  hole). Inode 1 is the root directory;
- data blocks: file contents, indirect blocks (1024 pointers), and
  directory blocks of 15 entries of 260 bytes: inode (4; 0 a free slot),
  name length (1), the name (up to 255 bytes).

Metadata is written synchronously, in an order that never leaves a
pointer on disk to something not yet initialised, and never frees
something a pointer on disk still reaches: a new block's bitmap bit, then
its contents, then the pointer to it; a new inode, then the directory
entry; an entry removed, then the inode cleared, then its blocks freed; a
rename raises the link count first. A crash can leave something allocated
that nothing reaches (a leak: the checker reports it as benign), never a
bad pointer. File data and inode size/pointer updates are delayed writes
(Cache.delayed, owned by the file), written at replacement, at fsync (the
file's data blocks, then its indirect block, then its inode) or at sync.

Files are descriptors in the Unix personality's table (unix_as.py's
``new_fd``, marked "file"); read, write and close on them come here
through the File object. fadvise is checked and recorded (``hints``); the
replacement policy is the kernel's (BufferCache.Victim), which an
application replaces with an extension of its own (cache_mru.py).
"""

from spin import Cache, Errors, Trap, User
from spin.unix_as import me, new_fd

SYS_OPEN = 31
SYS_LSEEK = 32
SYS_FSYNC = 33
SYS_UNLINK = 34
SYS_MKDIR = 35
SYS_RMDIR = 36
SYS_READDIR = 37
SYS_STAT = 38
SYS_RENAME = 39
SYS_FADVISE = 40

MAGIC = b"SPINSFS1"
BS = 4096
ISIZE = 64
IPB = 64
NDIRECT = 12
NINDIRECT = 1024
DSIZE = 260
DPB = 15
NAME_MAX = 255
ROOT = 1
MAXBLOCKS = 32768
MAX_FDS = 64
F_FILE = 1
F_DIR = 2

O_ACCMODE = 3
O_WRONLY = 1
O_RDWR = 2
O_CREAT = 64
O_EXCL = 128
O_TRUNC = 512
O_APPEND = 1024
FLAGS = 3 | 64 | 128 | 512 | 1024

sb = {"mounted": False, "nblocks": 0, "ninodes": 0, "istart": 2, "ilen": 0, "dstart": 0}
inodes = {}
opens = {}
hints = {}
counts = {"opens": 0, "reads": 0, "writes": 0, "bytes_read": 0, "bytes_written": 0, "fsyncs": 0,
          "creates": 0, "unlinks": 0}


def fail(errno, message):
    return Errors.fail(errno, message)


def word(raw, i):
    return int.from_bytes(raw[i:i + 4], "little")


def w4(v):
    return v.to_bytes(4, "little")


class Inode:
    def __init__(self, ino, raw):
        self.ino = ino
        self.mode = int.from_bytes(raw[0:2], "little")
        self.nlink = int.from_bytes(raw[2:4], "little")
        self.size = word(raw, 4)
        self.direct = [word(raw, 8 + 4 * i) for i in range(NDIRECT)]
        self.ind = word(raw, 56)

    def pack(self):
        out = self.mode.to_bytes(2, "little") + self.nlink.to_bytes(2, "little") + w4(self.size)
        for b in self.direct:
            out = out + w4(b)
        return out + w4(self.ind) + bytes(4)


# ------------------------------------------------------------ blocks and inodes


def ipos(ino):
    return (sb["istart"] + ino // IPB, (ino % IPB) * ISIZE)


def iget(ino):
    ip = inodes.get(ino)
    if ip is not None:
        return ip
    pos = ipos(ino)
    b = Cache.read(pos[0])
    if Errors.failed(b):
        return b
    raw = Cache.get(b, pos[1], ISIZE)
    Cache.release(b)
    ip = Inode(ino, raw)
    inodes[ino] = ip
    return ip


def iput(ip, sync):
    """Store ``ip`` into its inode block: written now (``sync``) or delayed."""
    pos = ipos(ip.ino)
    b = Cache.read(pos[0])
    if Errors.failed(b):
        return b
    Cache.put(b, pos[1], ip.pack())
    if sync:
        return Cache.write(b)
    Cache.delayed(b, ip.ino)
    return 0


def bitmap_set(blk, on):
    b = Cache.read(1)
    if Errors.failed(b):
        return b
    byte = Cache.get(b, blk // 8, 1)[0]
    if on:
        byte = byte | (1 << (blk % 8))
    else:
        byte = byte & (255 - (1 << (blk % 8)))
    Cache.put(b, blk // 8, bytes([byte]))
    return Cache.write(b)


def balloc():
    """A free block, marked in use on the disk (sync), zeroed in the cache."""
    b = Cache.read(1)
    if Errors.failed(b):
        return b
    raw = Cache.get(b, 0, (sb["nblocks"] + 7) // 8)
    Cache.release(b)
    for i in range(len(raw)):
        if raw[i] != 255:
            for j in range(8):
                blk = i * 8 + j
                if blk >= sb["dstart"] and blk < sb["nblocks"] and not raw[i] & (1 << j):
                    r = bitmap_set(blk, True)
                    if Errors.failed(r):
                        return r
                    return blk
    return fail("ENOSPC", "the disk is full")


def bfree(blk):
    Cache.forget(blk)
    return bitmap_set(blk, False)


def ialloc(mode):
    for ino in range(ROOT + 1, sb["ninodes"]):
        ip = iget(ino)
        if Errors.failed(ip):
            return ip
        if ip.mode == 0:
            ip.mode = mode
            ip.nlink = 1
            ip.size = 0
            ip.direct = [0] * NDIRECT
            ip.ind = 0
            r = iput(ip, True)
            if Errors.failed(r):
                ip.mode = 0
                return r
            return ip
    return fail("ENOSPC", "the inode table is full")


def bmap(ip, lbn, alloc):
    """The disk block of file block ``lbn`` (0: a hole), allocated if ``alloc``."""
    if lbn < NDIRECT:
        blk = ip.direct[lbn]
        if blk == 0 and alloc:
            blk = balloc()
            if Errors.failed(blk):
                return blk
            b = Cache.fresh(blk)
            Cache.delayed(b, ip.ino)
            ip.direct[lbn] = blk
        return blk
    n = lbn - NDIRECT
    if n >= NINDIRECT:
        return fail("EFBIG", f"file block {lbn} is past the largest file ({NDIRECT + NINDIRECT} blocks)")
    if ip.ind == 0:
        if not alloc:
            return 0
        ind = balloc()
        if Errors.failed(ind):
            return ind
        b = Cache.fresh(ind)
        r = Cache.write(b)
        if Errors.failed(r):
            return r
        ip.ind = ind
    b = Cache.read(ip.ind)
    if Errors.failed(b):
        return b
    blk = word(Cache.get(b, 4 * n, 4), 0)
    if blk == 0 and alloc:
        blk = balloc()
        if Errors.failed(blk):
            Cache.release(b)
            return blk
        nb = Cache.fresh(blk)
        Cache.delayed(nb, ip.ino)
        Cache.put(b, 4 * n, w4(blk))
        Cache.delayed(b, ip.ino)
        return blk
    Cache.release(b)
    return blk


def truncate(ip):
    """Free every block of ``ip``: its pointers cleared on the disk first, then the bitmap."""
    freed = [b for b in ip.direct if b]
    if ip.ind:
        b = Cache.read(ip.ind)
        if Errors.failed(b):
            return b
        raw = Cache.get(b, 0, BS)
        Cache.release(b)
        for i in range(NINDIRECT):
            blk = word(raw, 4 * i)
            if blk:
                freed.append(blk)
        freed.append(ip.ind)
    ip.direct = [0] * NDIRECT
    ip.ind = 0
    ip.size = 0
    r = iput(ip, True)
    if Errors.failed(r):
        return r
    for blk in freed:
        r = bfree(blk)
        if Errors.failed(r):
            return r
    return 0


def nblocks_of(ip):
    n = len([b for b in ip.direct if b])
    if ip.ind:
        b = Cache.read(ip.ind)
        if Errors.failed(b):
            return 1
        raw = Cache.get(b, 0, BS)
        Cache.release(b)
        n = n + 1 + len([i for i in range(NINDIRECT) if word(raw, 4 * i)])
    return n


# ------------------------------------------------------------ directories


def entries(dp):
    """(slot, ino, name) of every entry of directory ``dp``; slot = (file block, index)."""
    out = []
    for lbn in range((dp.size + BS - 1) // BS):
        blk = bmap(dp, lbn, False)
        if Errors.failed(blk):
            return blk
        if blk == 0:
            continue
        b = Cache.read(blk)
        if Errors.failed(b):
            return b
        raw = Cache.get(b, 0, DPB * DSIZE)
        Cache.release(b)
        for i in range(DPB):
            ino = word(raw, i * DSIZE)
            n = raw[i * DSIZE + 4]
            out.append(((lbn, i), ino, raw[i * DSIZE + 5:i * DSIZE + 5 + n].decode()))
    return out


def lookup(dp, name):
    es = entries(dp)
    if Errors.failed(es):
        return es
    for e in es:
        if e[1] and e[2] == name:
            return e
    return None


def set_entry(dp, slot, ino, name):
    blk = bmap(dp, slot[0], False)
    if Errors.failed(blk):
        return blk
    b = Cache.read(blk)
    if Errors.failed(b):
        return b
    raw = name.encode()
    Cache.put(b, slot[1] * DSIZE, w4(ino) + bytes([len(raw)]) + raw + bytes(NAME_MAX - len(raw)))
    return Cache.write(b)


def add_entry(dp, ino, name):
    es = entries(dp)
    if Errors.failed(es):
        return es
    for e in es:
        if e[1] == 0:
            return set_entry(dp, e[0], ino, name)
    lbn = dp.size // BS
    blk = balloc()
    if Errors.failed(blk):
        return blk
    b = Cache.fresh(blk)
    raw = name.encode()
    Cache.put(b, 0, w4(ino) + bytes([len(raw)]) + raw)
    r = Cache.write(b)
    if Errors.failed(r):
        return r
    if lbn < NDIRECT:
        dp.direct[lbn] = blk
    else:
        return fail("ENOSPC", "a directory holds at most 180 entries")
    dp.size = dp.size + BS
    return iput(dp, True)


# ------------------------------------------------------------ paths


def parts_of(call, path):
    if not isinstance(path, str):
        return fail("EINVAL", f"{call}: a path must be a str")
    if not path.startswith("/"):
        return fail("EINVAL", f"{call}: {path!r} is not an absolute path")
    if path == "/":
        return []
    if path.endswith("/"):
        return fail("EINVAL", f"{call}: {path!r} ends with '/'")
    parts = path[1:].split("/")
    for p in parts:
        if p == "" or p == "." or p == "..":
            return fail("EINVAL", f"{call}: {path!r} has an empty, '.' or '..' component")
        if len(p.encode()) > NAME_MAX:
            return fail("ENAMETOOLONG", f"{call}: a component of {path!r} is longer than {NAME_MAX} bytes")
        if "\0" in p:
            return fail("EINVAL", f"{call}: {path!r} holds a NUL byte")
    return parts


def walk(call, path, parts):
    dp = iget(ROOT)
    for i in range(len(parts)):
        if Errors.failed(dp):
            return dp
        if dp.mode != F_DIR:
            return fail("ENOTDIR", f"{call}: {'/' + '/'.join(parts[:i])!r} is not a directory")
        e = lookup(dp, parts[i])
        if Errors.failed(e):
            return e
        if e is None:
            return fail("ENOENT", f"{call}: {path!r}: no {'/' + '/'.join(parts[:i + 1])!r}")
        dp = iget(e[1])
    return dp


def namei(call, path):
    parts = parts_of(call, path)
    if Errors.failed(parts):
        return parts
    return walk(call, path, parts)


def parent(call, path):
    """(the directory holding the last component, that name)."""
    parts = parts_of(call, path)
    if Errors.failed(parts):
        return parts
    if not parts:
        if call == "mkdir":
            return fail("EEXIST", f"{call}: '/' is the root directory")
        return fail("EBUSY" if call == "rmdir" or call == "rename" else "EISDIR",
                    f"{call}: '/' is the root directory")
    dp = walk(call, path, parts[:-1])
    if Errors.failed(dp):
        return dp
    if dp.mode != F_DIR:
        return fail("ENOTDIR", f"{call}: {'/' + '/'.join(parts[:-1])!r} is not a directory")
    return (dp, parts[-1])


def release_inode(ip):
    """The last name is gone: free it once no descriptor holds it."""
    if ip.nlink > 0 or opens.get(ip.ino, 0) > 0:
        return 0
    r = truncate(ip)
    if Errors.failed(r):
        return r
    ip.mode = 0
    r = iput(ip, True)
    inodes.pop(ip.ino, None)
    hints.pop(ip.ino, None)
    return r


# ------------------------------------------------------------ open files


class File:
    def __init__(self, ip, flags):
        self.ip = ip
        self.flags = flags
        self.offset = 0
        self.readers = 1
        self.writers = 0
        self.waiting = []
        opens[ip.ino] = opens.get(ip.ino, 0) + 1

    def share(self):
        self.readers = self.readers + 1

    def close(self):
        self.readers = self.readers - 1
        if self.readers > 0:
            return
        ino = self.ip.ino
        opens[ino] = opens[ino] - 1
        if opens[ino] == 0:
            del opens[ino]
            release_inode(self.ip)

    def read(self, n):
        if self.flags & O_ACCMODE == O_WRONLY:
            return fail("EBADF", "read: the descriptor is open for writing only")
        if not isinstance(n, int) or n < 0:
            return fail("EINVAL", f"read: bad count {n!r}")
        ip = self.ip
        if ip.mode == F_DIR:
            return fail("EISDIR", "read: a directory (readdir lists it)")
        end = min(ip.size, self.offset + n)
        out = []
        pos = self.offset
        while pos < end:
            lbn = pos // BS
            off = pos % BS
            k = min(BS - off, end - pos)
            blk = bmap(ip, lbn, False)
            if Errors.failed(blk):
                return blk
            if blk == 0:
                out.append(bytes(k))
            else:
                b = Cache.read(blk, ip.ino)
                if Errors.failed(b):
                    return b
                out.append(Cache.get(b, off, k))
                Cache.release(b)
            pos = pos + k
        data = b"".join(out)
        self.offset = pos
        User.copyout(len(data))
        counts["reads"] = counts["reads"] + 1
        counts["bytes_read"] = counts["bytes_read"] + len(data)
        return data

    def write(self, data):
        if self.flags & O_ACCMODE == 0:
            return fail("EBADF", "write: the descriptor is open for reading only")
        if not isinstance(data, bytes):
            return fail("EINVAL", "write: data must be bytes")
        ip = self.ip
        if self.flags & O_APPEND:
            self.offset = ip.size
        User.copyin(len(data))
        pos = self.offset
        done = 0
        while done < len(data):
            lbn = pos // BS
            off = pos % BS
            k = min(BS - off, len(data) - done)
            blk = bmap(ip, lbn, True)
            if Errors.failed(blk):
                if done == 0:
                    return blk
                break
            b = Cache.read(blk, ip.ino)
            if Errors.failed(b):
                return b
            Cache.put(b, off, data[done:done + k])
            Cache.delayed(b, ip.ino)
            pos = pos + k
            done = done + k
        self.offset = pos
        if pos > ip.size:
            ip.size = pos
        r = iput(ip, False)
        if Errors.failed(r):
            return r
        counts["writes"] = counts["writes"] + 1
        counts["bytes_written"] = counts["bytes_written"] + done
        return done


def file_of(p, fd, who):
    e = p.fds.get(fd)
    if e is None:
        return fail("EBADF", f"{who}: {fd} is not an open descriptor")
    if e[1] != "file":
        return fail("EINVAL", f"{who}: {fd} is not a file")
    return e[0]


def mounted(who):
    if not sb["mounted"]:
        return fail("ENOSYS", f"{who}: no file system is mounted")
    return None


def sys_open(p, path, flags, mode):
    if not isinstance(flags, int) or flags & ~FLAGS or flags & O_ACCMODE == 3:
        return fail("EINVAL", f"open: bad flags {flags!r}")
    if len(p.fds) >= MAX_FDS:
        return fail("EMFILE", f"open: {MAX_FDS} descriptors are open already")
    pr = parent("open", path)
    if Errors.failed(pr):
        if pr.errno == "EISDIR" and flags & O_ACCMODE == 0:  # "/" read-only
            ip = iget(ROOT)
            return new_fd(p, [File(ip, flags), "file"])
        return pr
    dp = pr[0]
    name = pr[1]
    e = lookup(dp, name)
    if Errors.failed(e):
        return e
    if e is None:
        if not flags & O_CREAT:
            return fail("ENOENT", f"open: {path!r}: no such file")
        ip = ialloc(F_FILE)
        if Errors.failed(ip):
            return ip
        r = add_entry(dp, ip.ino, name)
        if Errors.failed(r):
            ip.nlink = 0
            release_inode(ip)
            return r
        counts["creates"] = counts["creates"] + 1
    else:
        if flags & O_CREAT and flags & O_EXCL:
            return fail("EEXIST", f"open: {path!r} exists")
        ip = iget(e[1])
        if Errors.failed(ip):
            return ip
        if ip.mode == F_DIR and flags & O_ACCMODE != 0:
            return fail("EISDIR", f"open: {path!r} is a directory (open it read-only)")
        if flags & O_TRUNC and flags & O_ACCMODE != 0 and ip.size:
            r = truncate(ip)
            if Errors.failed(r):
                return r
    counts["opens"] = counts["opens"] + 1
    return new_fd(p, [File(ip, flags), "file"])


def sys_lseek(p, fd, offset, whence):
    f = file_of(p, fd, "lseek")
    if Errors.failed(f):
        return f
    if not isinstance(offset, int) or not isinstance(whence, int):
        return fail("EINVAL", "lseek: offset and whence are ints")
    if whence == 0:
        pos = offset
    elif whence == 1:
        pos = f.offset + offset
    elif whence == 2:
        pos = f.ip.size + offset
    else:
        return fail("EINVAL", f"lseek: bad whence {whence}")
    if pos < 0:
        return fail("EINVAL", f"lseek: a negative offset ({pos})")
    f.offset = pos
    return pos


def sys_fsync(p, fd):
    f = file_of(p, fd, "fsync")
    if Errors.failed(f):
        return f
    ip = f.ip
    r = Cache.flush(ip.ino)  # its data blocks and indirect block (and its dirty inode block)
    if Errors.failed(r):
        return r
    r = iput(ip, True)
    if Errors.failed(r):
        return r
    counts["fsyncs"] = counts["fsyncs"] + 1
    return 0


def sys_unlink(p, path):
    pr = parent("unlink", path)
    if Errors.failed(pr):
        return pr
    e = lookup(pr[0], pr[1])
    if Errors.failed(e):
        return e
    if e is None:
        return fail("ENOENT", f"unlink: {path!r}: no such file")
    ip = iget(e[1])
    if Errors.failed(ip):
        return ip
    if ip.mode == F_DIR:
        return fail("EISDIR", f"unlink: {path!r} is a directory (rmdir)")
    r = set_entry(pr[0], e[0], 0, "")
    if Errors.failed(r):
        return r
    ip.nlink = ip.nlink - 1
    r = iput(ip, True)
    if Errors.failed(r):
        return r
    counts["unlinks"] = counts["unlinks"] + 1
    return release_inode(ip)


def sys_mkdir(p, path, mode):
    pr = parent("mkdir", path)
    if Errors.failed(pr):
        return pr
    e = lookup(pr[0], pr[1])
    if Errors.failed(e):
        return e
    if e is not None:
        return fail("EEXIST", f"mkdir: {path!r} exists")
    ip = ialloc(F_DIR)
    if Errors.failed(ip):
        return ip
    r = add_entry(pr[0], ip.ino, pr[1])
    if Errors.failed(r):
        ip.nlink = 0
        release_inode(ip)
    return r


def sys_rmdir(p, path):
    pr = parent("rmdir", path)
    if Errors.failed(pr):
        return pr
    e = lookup(pr[0], pr[1])
    if Errors.failed(e):
        return e
    if e is None:
        return fail("ENOENT", f"rmdir: {path!r}: no such directory")
    ip = iget(e[1])
    if Errors.failed(ip):
        return ip
    if ip.mode != F_DIR:
        return fail("ENOTDIR", f"rmdir: {path!r} is not a directory")
    es = entries(ip)
    if Errors.failed(es):
        return es
    if len([x for x in es if x[1]]):
        return fail("ENOTEMPTY", f"rmdir: {path!r} is not empty")
    r = set_entry(pr[0], e[0], 0, "")
    if Errors.failed(r):
        return r
    ip.nlink = 0
    return release_inode(ip)


def sys_readdir(p, path):
    ip = namei("readdir", path)
    if Errors.failed(ip):
        return ip
    if ip.mode != F_DIR:
        return fail("ENOTDIR", f"readdir: {path!r} is not a directory")
    es = entries(ip)
    if Errors.failed(es):
        return es
    return tuple(sorted([x[2] for x in es if x[1]]))


def sys_stat(p, path):
    ip = namei("stat", path)
    if Errors.failed(ip):
        return ip
    return (ip.ino, ip.mode == F_DIR, ip.size, ip.nlink, nblocks_of(ip), BS)


def sys_rename(p, old, new):
    po = parent("rename", old)
    if Errors.failed(po):
        return po
    pn = parent("rename", new)
    if Errors.failed(pn):
        return pn
    eo = lookup(po[0], po[1])
    if Errors.failed(eo):
        return eo
    if eo is None:
        return fail("ENOENT", f"rename: {old!r}: no such file")
    ip = iget(eo[1])
    if Errors.failed(ip):
        return ip
    if ip.mode == F_DIR and (new + "/").startswith(old + "/"):
        return fail("EINVAL", f"rename: {new!r} is inside {old!r}")
    en = lookup(pn[0], pn[1])
    if Errors.failed(en):
        return en
    if en is not None and en[1] == ip.ino:
        return 0
    victim = None
    if en is not None:
        victim = iget(en[1])
        if Errors.failed(victim):
            return victim
        if victim.mode == F_DIR:
            return fail("EEXIST", f"rename: {new!r} is a directory")
        if ip.mode == F_DIR:
            return fail("ENOTDIR", f"rename: {new!r} is not a directory")
    ip.nlink = ip.nlink + 1  # the second name is counted before it is written
    r = iput(ip, True)
    if Errors.failed(r):
        return r
    if en is not None:
        r = set_entry(pn[0], en[0], ip.ino, pn[1])  # one block write replaces the name
    else:
        r = add_entry(pn[0], ip.ino, pn[1])
    if Errors.failed(r):
        ip.nlink = ip.nlink - 1
        iput(ip, True)
        return r
    eo = lookup(po[0], po[1])  # the directory may have grown: find the old name again
    if Errors.failed(eo):
        return eo
    r = set_entry(po[0], eo[0], 0, "")
    if Errors.failed(r):
        return r
    ip.nlink = ip.nlink - 1
    r = iput(ip, True)
    if Errors.failed(r):
        return r
    if victim is not None:
        victim.nlink = victim.nlink - 1
        r = iput(victim, True)
        if Errors.failed(r):
            return r
        return release_inode(victim)
    return 0


def sys_fadvise(p, fd, offset, length, advice, priority):
    f = file_of(p, fd, "fadvise")
    if Errors.failed(f):
        return f
    if not isinstance(advice, int) or advice < 0 or advice > 5:
        return fail("EINVAL", f"fadvise: bad advice {advice!r}")
    if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
        return fail("EINVAL", "fadvise: a bad range")
    hints[f.ip.ino] = (advice, offset, length, priority)
    return 0


CALLS = {SYS_OPEN: (sys_open, 3), SYS_LSEEK: (sys_lseek, 3), SYS_FSYNC: (sys_fsync, 1),
         SYS_UNLINK: (sys_unlink, 1), SYS_MKDIR: (sys_mkdir, 2), SYS_RMDIR: (sys_rmdir, 1),
         SYS_READDIR: (sys_readdir, 1), SYS_STAT: (sys_stat, 1), SYS_RENAME: (sys_rename, 2),
         SYS_FADVISE: (sys_fadvise, 5)}


def entry(call, nargs):
    def handler(number, args):
        p = me()
        if p is None:
            return fail("ENOSYS", "not a Unix process")
        if len(args) != nargs:
            return fail("EINVAL", f"system call {number}: {nargs} arguments, not {len(args)}")
        m = mounted("file system call")
        if m is not None:
            return m
        if nargs == 1:
            return call(p, args[0])
        if nargs == 2:
            return call(p, args[0], args[1])
        if nargs == 3:
            return call(p, args[0], args[1], args[2])
        return call(p, args[0], args[1], args[2], args[3], args[4])
    return handler


# ------------------------------------------------------------ mounting


def mkfs():
    n = min(Cache.nblocks(), MAXBLOCKS)
    ilen = max(1, min(8, n // 64))
    dstart = 2 + ilen
    if dstart + 2 > n:
        return fail("ENOSPC", f"mkfs: a disk of {n} blocks is too small")
    for blk in range(2, dstart):
        b = Cache.fresh(blk)
        if blk == 2:
            Cache.put(b, ROOT * ISIZE, F_DIR.to_bytes(2, "little") + (1).to_bytes(2, "little"))
        r = Cache.write(b)
        if Errors.failed(r):
            return r
    b = Cache.fresh(1)
    used = bytes([255] * (dstart // 8))
    if dstart % 8:
        used = used + bytes([(1 << (dstart % 8)) - 1])
    Cache.put(b, 0, used)
    r = Cache.write(b)
    if Errors.failed(r):
        return r
    b = Cache.fresh(0)  # the superblock last: an image is a file system once it is written
    Cache.put(b, 0, MAGIC + w4(n) + w4(ilen * IPB) + w4(2) + w4(ilen) + w4(dstart))
    return Cache.write(b)


def mount(fresh):
    if sb["mounted"]:
        return fail("EBUSY", "mount: already mounted")
    if fresh:
        r = mkfs()
        if Errors.failed(r):
            return r
    b = Cache.read(0)
    if Errors.failed(b):
        return b
    raw = Cache.get(b, 0, 32)
    Cache.release(b)
    if raw[0:8] != MAGIC:
        return fail("EINVAL", "the disk does not hold a SPIN file system (no SPINSFS1 superblock)")
    n = word(raw, 8)
    ninodes = word(raw, 12)
    istart = word(raw, 16)
    ilen = word(raw, 20)
    dstart = word(raw, 24)
    if n != min(Cache.nblocks(), MAXBLOCKS):
        return fail("EINVAL", f"corrupt superblock: {n} blocks on a disk of {Cache.nblocks()}")
    if istart != 2 or ilen < 1 or ninodes != ilen * IPB or dstart != istart + ilen or dstart >= n:
        return fail("EINVAL", f"corrupt superblock: inodes {ninodes} in {ilen} blocks from {istart}, "
                              f"data from {dstart}")
    sb["nblocks"] = n
    sb["ninodes"] = ninodes
    sb["istart"] = istart
    sb["ilen"] = ilen
    sb["dstart"] = dstart
    root = iget(ROOT)
    if Errors.failed(root):
        return root
    if root.mode != F_DIR:
        inodes.clear()
        return fail("EINVAL", f"corrupt file system: inode {ROOT} is not a directory (mode {root.mode})")
    sb["mounted"] = True
    return 0


def sync():
    """Every dirty block to the disk (0, or EIO)."""
    return Cache.flush(None)


def held():
    """What processes still hold: open files (0 once every process has ended), and the blocks
    of files no name reaches."""
    orphans = 0
    for ino in inodes:
        ip = inodes[ino]
        if ip.mode != 0 and ip.nlink == 0:
            orphans = orphans + nblocks_of(ip) + 1
    return {"open_files": sum([opens[i] for i in opens]), "orphan_blocks": orphans}


def statistics():
    return dict(counts, inodes_cached=len(inodes))


def install():
    for number in CALLS:
        Trap.claim(number, entry(CALLS[number][0], CALLS[number][1]))
