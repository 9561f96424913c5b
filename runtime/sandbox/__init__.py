"""Sandbox: least-privilege grants per plugin, org policy and approvals, kernel enforcement in
worker processes (rlimits, Landlock, seccomp), audit hooks, and the hash-chained audit log."""
