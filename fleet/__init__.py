"""Rolling a plugin version out across a fleet of runtime hosts: in waves, each installed
through the hosts' authenticated APIs and gated by the new version's error budget burn read
from the metrics store; every host rolled back on a failed gate; journalled and resumable."""
