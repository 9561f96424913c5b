"""seccomp filters (libseccomp through `pyseccomp`): what a profile without network or processes
may never do, whatever the code tries (raw ctypes syscalls included).

- no sockets of the internet families (and no raw/packet/netlink sockets);
- no execve/execveat; no fork: `clone` without CLONE_THREAD is refused, `clone3` answers ENOSYS
  so the C library falls back to `clone`, where the flags can be read; threads still work;
- no changing of resource limits, no ptrace, no mount or namespace tricks, no changing of uid,
  gid, groups or capabilities.
"""

from __future__ import annotations

import errno
import socket

CLONE_THREAD = 0x00010000
_ALWAYS_DENIED = ("ptrace", "process_vm_writev", "process_vm_readv", "mount", "umount2",
                  "unshare", "setns", "pivot_root", "chroot", "setrlimit", "prlimit64",
                  "kexec_load", "init_module", "finit_module", "bpf", "keyctl", "add_key",
                  "request_key", "personality",
                  # identity: a worker has dropped to its uid before the filter; it stays there
                  "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
                  "setgroups", "setfsuid", "setfsgid", "capset")
_SOCKET_FAMILIES = (socket.AF_INET, socket.AF_INET6, socket.AF_PACKET, socket.AF_NETLINK)


def available() -> bool:
    try:
        import pyseccomp  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def install(no_network: bool, no_processes: bool) -> None:
    """Load the filter into this process (and its threads); irreversible."""
    import pyseccomp as sc

    flt = sc.SyscallFilter(defaction=sc.ALLOW)
    deny = sc.ERRNO(errno.EPERM)
    for name in _ALWAYS_DENIED:
        flt.add_rule(deny, name)
    if no_network:
        for family in _SOCKET_FAMILIES:
            flt.add_rule(deny, "socket", sc.Arg(0, sc.EQ, family))
            flt.add_rule(deny, "socketpair", sc.Arg(0, sc.EQ, family))
    if no_processes:
        for name in ("execve", "execveat", "fork", "vfork"):
            flt.add_rule(deny, name)
        flt.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
        flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    flt.load()
