#!/usr/bin/env python3
"""A filesystem that forgets (issue 35 §1): a FUSE filesystem for the power-cut tests.

Every call passes through to a backing folder, so the programs on it see what they wrote. Beside
that, it keeps the durable state: which names exist (the entries of each folder as of that
folder's last fsync) and which bytes each file holds (as of that file's last fsync/fdatasync).
Writing "cut" to the file `.forget-control` at its root is a power cut: the backing folder is
rebuilt from the durable state alone — a name whose folder was never synced since it was made
is gone, a file whose bytes were never synced is empty, a rename or unlink not followed by a sync
of its folder never happened — and the filesystem serves what survived.

Writing "cut SEED" is a power cut as on a real disk, whose own write-back may have carried some
of what was not synced before the power went: with the seeded coin, each folder keeps either
its names as of its last sync or as of now, and each file either its bytes as of its last sync,
as of now, or (when it grew by appending) its synced bytes and a torn part of what followed.

It is harsh where POSIX allows: an fsync of a file keeps its bytes, not its name (its folder
must be synced for that), and `syncfs` does not reach a FUSE filesystem, so programs on it must
sync each file and folder themselves (fayuan does so with FAYUAN_TEST_KERNEL below 5.8).

With --eio REGEX, an fsync of a path that matches answers EIO (a disk that lost what it was
given), and nothing becomes durable by it.

    forgetfs.py BACKING MOUNTPOINT [--eio REGEX]
"""

import errno
import os
import re
import sys
import threading

from fuse import FUSE, FuseOSError, Operations

CONTROL = "/.forget-control"


class Forget(Operations):
    def __init__(self, root, eio):
        self.root = os.path.realpath(root)
        self.mu = threading.RLock()
        self.eio = re.compile(eio) if eio else None
        self.failed = set()
        self.cuts = 0
        self.remember_everything()

    # --- the durable state ---
    # Each file and folder has an identity, given when it is made (the backing folder reuses
    # inode numbers: a folder removed and a new one made may share one, but not an identity).
    # A folder's durable entries, by its identity: name -> (kind, identity); a file's durable
    # bytes, by its identity. Renaming moves the entries and bytes with it, as on a disk.

    def ident(self, real):
        ino = os.lstat(real).st_ino
        if ino not in self.ids:
            self.next_id += 1
            self.ids[ino] = self.next_id
        return self.ids[ino]

    def made(self, real):
        """A new file or folder at `real`: a new identity, nothing durable of its own yet."""
        self.next_id += 1
        self.ids[os.lstat(real).st_ino] = self.next_id

    def gone(self, st):
        """A name of `st` was removed: with its last name its identity dies (what a durable
        listing still names is kept for a cut); now and then what nothing names is let go."""
        import stat

        if st.st_nlink <= 1 or stat.S_ISDIR(st.st_mode):
            self.ids.pop(st.st_ino, None)
        self.removals += 1
        if self.removals % 500 == 0:
            named = {self.root_id, *self.ids.values()}
            for listing in self.dirs.values():
                named.update(child for _, child in listing.values())
            self.data = {k: v for k, v in self.data.items() if k in named}
            self.dirs = {k: v for k, v in self.dirs.items() if k in named}

    def listing(self, real):
        out = {}
        for entry in os.listdir(real):
            full = os.path.join(real, entry)
            out[entry] = ("d" if os.path.isdir(full) else "f", self.ident(full))
        return out

    def remember_everything(self):
        """What is in the backing folder now is durable (at mount, and after a cut)."""
        self.dirs = {}
        self.data = {}
        self.ids = {}
        self.lost = set()
        self.removals = 0
        self.next_id = getattr(self, "next_id", 0)
        self.root_id = self.ident(self.root)
        for dirpath, _, files in os.walk(self.root):
            self.dirs[self.ident(dirpath)] = self.listing(dirpath)
            for f in files:
                full = os.path.join(dirpath, f)
                with open(full, "rb") as h:
                    self.data[self.ident(full)] = h.read()

    def written_back(self, seed):
        """Before a seeded cut: some unsynced names and bytes reached the disk anyway."""
        import random

        rng = random.Random(seed)
        for dirpath, dirnames, files in os.walk(self.root):
            dirnames.sort()
            if rng.random() < 0.5:
                self.dirs[self.ident(dirpath)] = self.listing(dirpath)
            for f in sorted(files):
                full = os.path.join(dirpath, f)
                ino = self.ident(full)
                with open(full, "rb") as h:
                    now = h.read()
                kept = self.data.get(ino, b"")
                coin = rng.random()
                if now == kept or coin < 0.4:
                    continue
                if coin < 0.7 or not now.startswith(kept):
                    self.data[ino] = now
                else:
                    # A torn append: the synced bytes and part of what came after them.
                    self.data[ino] = now[: len(kept) + rng.randrange(len(now) - len(kept))]

    def cut(self, seed=None):
        """The power cut: the backing folder becomes what was durable."""
        with self.mu:
            import shutil

            if seed is not None:
                self.written_back(seed)

            for entry in os.listdir(self.root):
                p = os.path.join(self.root, entry)
                if os.path.isdir(p) and not os.path.islink(p):
                    shutil.rmtree(p)
                else:
                    os.unlink(p)

            def rebuild(real, ino):
                for name, (kind, child) in self.dirs.get(ino, {}).items():
                    path = os.path.join(real, name)
                    if kind == "d":
                        os.mkdir(path)
                        rebuild(path, child)
                    else:
                        with open(path, "wb") as h:
                            h.write(self.data.get(child, b""))

            rebuild(self.root, self.root_id)
            self.cuts += 1
            self.remember_everything()

    def real(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def failing(self, path, ident=None):
        # As Linux does: the sync that meets the lost write-back fails once; the next one
        # succeeds although the bytes are gone (what a retry over a failed sync would trust):
        # the file's durable bytes stay what they were before the failed sync.
        if self.eio is not None and self.eio.search(path) and path not in self.failed:
            self.failed.add(path)
            if ident is not None:
                self.lost.add(ident)
            raise FuseOSError(errno.EIO)

    # --- syncs ---

    def fsync(self, path, datasync, fh):
        with self.mu:
            ino = self.ids.get(os.fstat(fh).st_ino)
            if ino is None:
                self.next_id += 1
                ino = self.ids[os.fstat(fh).st_ino] = self.next_id
            self.failing(path, ino)
            if ino in self.lost:
                # The write-back was lost: this sync "succeeds", the bytes stay as they were.
                return 0
            # Read through a handle of its own (the caller's may be write-only).
            rd = os.open(f"/proc/self/fd/{fh}", os.O_RDONLY)
            try:
                chunks = []
                offset = 0
                while True:
                    b = os.pread(rd, 1 << 20, offset)
                    if not b:
                        break
                    chunks.append(b)
                    offset += len(b)
            finally:
                os.close(rd)
            self.data[ino] = b"".join(chunks)
            return 0

    def fsyncdir(self, path, datasync, fh):
        with self.mu:
            self.failing(path)
            real = self.real(path)
            self.dirs[self.ident(real)] = self.listing(real)
            return 0

    # --- pass-through ---

    def getattr(self, path, fh=None):
        if path == CONTROL:
            return {"st_mode": 0o100600, "st_nlink": 1, "st_size": 0}
        try:
            st = os.lstat(self.real(path))
        except OSError as e:
            raise FuseOSError(e.errno)
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime", "st_nlink", "st_size", "st_uid", "st_ino")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self.real(path))

    def access(self, path, mode):
        if path != CONTROL and not os.access(self.real(path), mode):
            raise FuseOSError(errno.EACCES)

    def open(self, path, flags):
        if path == CONTROL:
            return 0
        try:
            return os.open(self.real(path), flags)
        except OSError as e:
            raise FuseOSError(e.errno)

    def create(self, path, mode, fi=None):
        with self.mu:
            real = self.real(path)
            existed = os.path.lexists(real)
            try:
                fh = os.open(real, os.O_RDWR | os.O_CREAT, mode)
            except OSError as e:
                raise FuseOSError(e.errno)
            if not existed:
                self.made(real)
        return fh

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def write(self, path, data, offset, fh):
        if path == CONTROL:
            words = data.split()
            if words[:1] == [b"cut"]:
                self.cut(int(words[1]) if len(words) > 1 else None)
            return len(data)
        with self.mu:
            return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        if path == CONTROL:
            return 0
        with self.mu:
            if fh is not None:
                os.ftruncate(fh, length)
            else:
                os.truncate(self.real(path), length)

    def flush(self, path, fh):
        return 0

    def release(self, path, fh):
        if path != CONTROL:
            os.close(fh)
        return 0

    def mkdir(self, path, mode):
        with self.mu:
            os.mkdir(self.real(path), mode)
            self.made(self.real(path))

    def rmdir(self, path):
        with self.mu:
            st = os.lstat(self.real(path))
            os.rmdir(self.real(path))
            self.gone(st)

    def unlink(self, path):
        with self.mu:
            st = os.lstat(self.real(path))
            os.unlink(self.real(path))
            self.gone(st)

    def rename(self, old, new):
        with self.mu:
            try:
                replaced = os.lstat(self.real(new))
            except OSError:
                replaced = None
            os.rename(self.real(old), self.real(new))
            if replaced is not None and replaced.st_ino != os.lstat(self.real(new)).st_ino:
                self.gone(replaced)

    def link(self, target, source):
        with self.mu:
            os.link(self.real(source), self.real(target))

    def chmod(self, path, mode):
        os.chmod(self.real(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self.real(path), uid, gid)

    def utimens(self, path, times=None):
        if path != CONTROL:
            os.utime(self.real(path), times)

    def statfs(self, path):
        st = os.statvfs(self.real(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail", "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")
        return {k: getattr(st, k) for k in keys}


def main():
    args = sys.argv[1:]
    eio = None
    if "--eio" in args:
        k = args.index("--eio")
        eio = args[k + 1]
        del args[k : k + 2]
    backing, mountpoint = args
    # No caching of names or attributes in the kernel: after a cut, what is gone is gone at once.
    FUSE(
        Forget(backing, eio),
        mountpoint,
        foreground=True,
        nothreads=True,
        big_writes=True,
        # An unlinked file still open is gone at once (not renamed to .fuse_hidden*, a name a
        # folder's sync would make durable).
        hard_remove=True,
        entry_timeout=0,
        attr_timeout=0,
        negative_timeout=0,
    )


if __name__ == "__main__":
    main()
