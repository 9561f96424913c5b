"""Transactional install, update, rollback and uninstall: journalled phases, automatic rollback,
crash recovery, one operation per plugin."""
