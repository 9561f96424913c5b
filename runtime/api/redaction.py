"""No server path in what the server answers: the folders an operator would not publish (the
runtime home, the registry, where Python and this code are installed) are replaced by a short
label in every response body, whatever produced the text (an error's `where`, a transaction's
message, a plugin's traceback, a UI page).

    >>> from pathlib import Path
    >>> redact = PathRedactor({"home": Path("/srv/pluginops")})
    >>> redact(b'{"where": "/srv/pluginops/plugins/x/current"}')
    b'{"where": "<home>/plugins/x/current"}'
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

CODE_ROOT = Path(__file__).resolve().parents[2]  # where the pluginops packages are installed


def installation_paths() -> dict[str, Path]:
    """The folders of this process's own installation."""
    return {"pluginops": CODE_ROOT, "python": Path(sys.prefix),
            "python-base": Path(sys.base_prefix)}


class PathRedactor:
    def __init__(self, roots: Mapping[str, Path]) -> None:
        pairs: dict[bytes, bytes] = {}
        for label, root in roots.items():
            for form in (root.absolute(), root.resolve()):
                text = str(form)
                if text != "/":  # the root folder alone is not a secret, and is everywhere
                    pairs.setdefault(text.encode(), f"<{label}>".encode())
        # longest first: a home inside the installation's folder keeps its own label
        self.pairs = sorted(pairs.items(), key=lambda pair: -len(pair[0]))

    def __call__(self, data: bytes) -> bytes:
        for path, label in self.pairs:
            if path in data:
                data = data.replace(path, label)
        return data
