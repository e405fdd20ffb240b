"""Print a short hash of what decides a virtualenv's contents.

`deps` hashes the dependency declaration (project dependencies, extras, Python requirement), so a venv keyed
by it is reused until a dependency changes. `project` also hashes the whole pyproject.toml and this checkout's
path, so the editable install (entry points, source location) is refreshed for a new clone or pyproject.
"""

import hashlib
import json
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
text = (root / "pyproject.toml").read_bytes()
try:
    import tomllib

    project = tomllib.loads(text.decode())["project"]
    declared = json.dumps(
        [project["dependencies"], project.get("optional-dependencies", {}), project.get("requires-python")],
        sort_keys=True,
    ).encode()
except ModuleNotFoundError:  # Python 3.10 has no tomllib: hash the whole file instead
    declared = text
kind = sys.argv[1] if len(sys.argv) > 1 else "deps"
payload = declared if kind == "deps" else declared + text + str(root).encode()
print(hashlib.sha256(payload).hexdigest()[:16])
