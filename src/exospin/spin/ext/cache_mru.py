"""MRU replacement for the kernel's block cache: an application's policy, loaded and verified.

An application that scans a file larger than the cache again and again
(Cao, Felten and Li's cscope and dinero) misses every block under LRU: the
block it needs next is always the one just replaced. Under MRU the cache
keeps the first blocks of the scan and replaces the most recently used
one, so each later pass hits on what stayed. The kernel raises
BufferCache.Victim(candidates, owners), least recently used first; this
handler answers with the most recently used block of a file's data (owner
not 0), and keeps LRU for metadata (the inode, indirect and bitmap blocks
every pass needs again). It sees block and inode numbers only: never a
buffer's bytes, a frame or another application's data.
"""

from spin import CachePolicy

counts = {"decisions": 0}


def choose(candidates, owners):
    counts["decisions"] = counts["decisions"] + 1
    for i in range(len(candidates) - 1, -1, -1):
        if owners[i] != 0:
            return candidates[i]
    return candidates[0]


def statistics():
    return dict(counts)


def install():
    CachePolicy.install(choose)
