"""Artifact names, collection names, aliases, references and metadata: the checks (rule 35)."""

from __future__ import annotations

import json
import re
from typing import Any

MODEL_REGISTRY = "model-registry"
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_VERSION = re.compile(r"v\d+")


# -- names -----------------------------------------------------------------------------------
def check_artifact_name(name: object, what: str = "artifact name") -> str:
    """Artifact (collection) names: letters, digits, ``-``, ``_``, ``.`` (as W&B)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > 128:
        raise ValueError(
            f"{what} {name!r}: use 1-128 letters, digits, '-', '_' or '.' (no ':' or '/'; "
            "a version or alias goes after the name only when reading: 'name:v1')"
        )
    return name


_LINK_FORBIDDEN = re.compile(r"[/\\:\x00-\x1f\x7f]")


def check_collection_name(name: object, what: str = "collection name") -> str:
    """The name of a collection a version is linked into (a registered model, W&B's
    ``link_artifact(art, "model-registry/MNIST Classifier")``): what W&B accepts there, spaces
    included: 1-128 characters without ``/``, ``\\``, ``:`` or control characters, not ``.``
    or ``..`` and without spaces at either end. The name becomes one folder name of a default
    download root (``./artifacts/<name>:v<N>``), so it can never climb out of it."""
    if (
        not isinstance(name, str)
        or not name
        or len(name) > 128
        or _LINK_FORBIDDEN.search(name)
        or name.strip() != name
        or name in (".", "..")
    ):
        raise ValueError(
            f"{what} {name!r}: use 1-128 characters (letters, digits, spaces, '-', '_', '.' "
            "...) without '/', '\\', ':' or control characters, not '.' or '..', and no "
            "space at either end"
        )
    return name


def check_aliases(aliases: object) -> list[str]:
    """Aliases: a str or a list of str, each a valid name and not of the form ``v<N>``."""
    if aliases is None:
        return []
    items = [aliases] if isinstance(aliases, str) else aliases
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"aliases {aliases!r}: pass a str or a list of str")
    out = []
    for a in items:
        if not isinstance(a, str) or not _NAME.fullmatch(a) or _VERSION.fullmatch(a):
            raise ValueError(
                f"alias {a!r}: use letters, digits, '-', '_' or '.', and not 'v<N>' "
                "(version names are given by nbrun)"
            )
        if a not in out:
            out.append(a)
    return out


def parse_ref(path: object, default_project: str | None) -> tuple[str, str, str]:
    """``"[entity/]project/name[:ref]"`` or ``"name[:ref]"`` -> ``(project, name, ref)``;
    ``ref`` defaults to ``latest``."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"artifact {path!r}: pass 'name:alias', 'project/name:alias' or similar")
    body, _, ref = path.partition(":")
    parts = body.split("/")
    if len(parts) == 1:
        if default_project is None:
            raise ValueError(
                f"artifact {path!r}: pass 'project/{path}' (no run gives a default project)"
            )
        project, name = default_project, parts[0]
    elif len(parts) in (2, 3):
        project, name = parts[-2], parts[-1]
    else:
        raise ValueError(f"artifact {path!r}: too many '/'; use 'entity/project/name:alias'")
    check_collection_name(name, "artifact name")  # logged names, and linked ones (registry)
    if not project:
        raise ValueError(f"artifact {path!r}: empty project")
    ref = ref or "latest"
    if not _NAME.fullmatch(ref):
        raise ValueError(f"artifact {path!r}: version or alias {ref!r} is not valid")
    return project, name, ref


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:128] or "artifact"


def _plain(value: Any) -> Any:
    """numpy / torch scalars and arrays as plain values (integrations put them in metadata)."""
    for attr in ("item", "tolist"):
        fn = getattr(value, attr, None)
        if callable(fn):
            try:
                return fn()
            except (TypeError, ValueError):
                continue
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")


def _check_metadata(metadata: object) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise ValueError(f"artifact metadata {metadata!r} must be a dict or None")
    try:
        plain = json.loads(json.dumps(metadata, allow_nan=True, default=_plain))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"artifact metadata must be JSON-serialisable: {exc}") from None
    return dict(plain)
