"""Checks the files of the signgate image, from a tar export of a container created from it.

Usage: python3 tests/container/image_files.py ROOTFS.tar LIST.txt

Writes the image's files to LIST.txt (mode, uid:gid, size, path; one a line) and exits 1, naming
each problem on stderr, unless the image holds no shell, compiler or package manager, and holds
the binary, a CA bundle of Debian's size, /etc/passwd naming the signgate user 10001, /tmp with
mode 1777 and the store directory /var/lib/signgate owned by 10001:10001, mode 0750. Run by smoke.sh.
"""

import posixpath
import stat
import sys
import tarfile

# Executables the runtime image must not have (a shell, a compiler or linker, a package manager).
TOOLS = {"sh", "bash", "dash", "busybox", "cargo", "rustc", "cc", "gcc", "ld", "apt", "apt-get", "dpkg"}
# Debian bookworm's bundle holds about 140 roots; far fewer means the wrong file was copied.
MIN_ROOTS = 100


def file_type(member):
    """The stat file-type bits of a tar member, for stat.filemode."""
    if member.isdir():
        return stat.S_IFDIR
    if member.issym():
        return stat.S_IFLNK
    return stat.S_IFREG


def main(tar_path, list_path):
    tar = tarfile.open(tar_path)
    members = {}
    for m in tar.getmembers():
        name = m.name.removeprefix("./").strip("/")
        if name:
            members[name] = m
    with open(list_path, "w") as out:
        for name, m in sorted(members.items()):
            link = f" -> {m.linkname}" if m.issym() else ""
            mode = stat.filemode(stat.S_IMODE(m.mode) | file_type(m))
            out.write(f"{mode} {m.uid}:{m.gid} {m.size:>9} /{name}{link}\n")

    errors = []
    found = sorted("/" + n for n, m in members.items() if posixpath.basename(n) in TOOLS and not m.isdir())
    if found:
        errors.append(f"shell, compiler or package manager in the image: {', '.join(found)}")

    def member(path):
        m = members.get(path)
        if m is None:
            errors.append(f"/{path} is missing")
        return m

    member("usr/local/bin/signgate")
    bundle = member("etc/ssl/certs/ca-certificates.crt")
    if bundle is not None:
        roots = tar.extractfile(bundle).read().count(b"-----BEGIN CERTIFICATE-----")
        if roots < MIN_ROOTS:
            errors.append(f"the CA bundle holds {roots} certificates, fewer than {MIN_ROOTS}")
        else:
            print(f"CA bundle: {roots} certificates")
    passwd = member("etc/passwd")
    if passwd is not None and b"\nsigngate:x:10001:10001:" not in b"\n" + tar.extractfile(passwd).read():
        errors.append("/etc/passwd names no signgate user 10001:10001")
    store = member("var/lib/signgate")
    if store is not None and (not store.isdir() or (store.uid, store.gid) != (10001, 10001)):
        errors.append(f"/var/lib/signgate is not a directory owned by 10001:10001 ({store.uid}:{store.gid})")
    if store is not None and stat.S_IMODE(store.mode) != 0o750:
        errors.append(f"/var/lib/signgate has mode {oct(stat.S_IMODE(store.mode))}, not 0o750")
    tmp = member("tmp")
    if tmp is not None and stat.S_IMODE(tmp.mode) != 0o1777:
        errors.append(f"/tmp has mode {oct(stat.S_IMODE(tmp.mode))}, not 0o1777")

    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
