"""A directory registry: `index.json` plus signed, deterministic `.tar.gz` artifacts."""
