"""Run ids, generated run names, and validation of ids, projects and tags (rules 3-6)."""

from __future__ import annotations

import os
import random
import secrets
import string
import unicodedata

from .errors import UsageError

_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_FORBIDDEN = "/\\#?%:;,'"
_PROJECT_FORBIDDEN = "/\\#?%:"

_ADJECTIVES = (
    "amber",
    "ancient",
    "autumn",
    "bold",
    "brisk",
    "calm",
    "clever",
    "cosmic",
    "crimson",
    "daring",
    "dawn",
    "deft",
    "eager",
    "electric",
    "fancy",
    "fearless",
    "gentle",
    "glad",
    "golden",
    "grand",
    "hardy",
    "hazy",
    "icy",
    "jolly",
    "keen",
    "lively",
    "lucky",
    "lunar",
    "mellow",
    "misty",
    "noble",
    "olive",
    "patient",
    "polar",
    "proud",
    "quiet",
    "rapid",
    "royal",
    "rustic",
    "silent",
    "silver",
    "sleek",
    "snowy",
    "solar",
    "steady",
    "stellar",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wild",
    "wise",
    "young",
    "zesty",
)
_NOUNS = (
    "aurora",
    "bay",
    "brook",
    "canyon",
    "cedar",
    "cloud",
    "comet",
    "dune",
    "ember",
    "field",
    "fjord",
    "forest",
    "galaxy",
    "glade",
    "grove",
    "harbor",
    "hill",
    "lake",
    "leaf",
    "meadow",
    "mesa",
    "moon",
    "moss",
    "nebula",
    "night",
    "oak",
    "ocean",
    "orbit",
    "peak",
    "pine",
    "planet",
    "pond",
    "prairie",
    "rain",
    "reef",
    "river",
    "sea",
    "shadow",
    "sky",
    "smoke",
    "snow",
    "sound",
    "spring",
    "star",
    "stone",
    "storm",
    "sun",
    "sunset",
    "thunder",
    "tide",
    "valley",
    "wave",
    "wind",
    "wood",
)


def generate_id() -> str:
    """Return a new run id: 8 random characters from ``[a-z0-9]`` (rule 3)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def generate_name(counter: int) -> str:
    """Return a two-word name plus a counter, e.g. ``brisk-meadow-7`` (rule 4)."""
    rng = random.Random(os.urandom(8))
    return f"{rng.choice(_ADJECTIVES)}-{rng.choice(_NOUNS)}-{counter}"


#: the most UTF-8 bytes of an id or a project (rule 43): each becomes a folder name, which
#: filesystems limit to 255 bytes, and nbrun adds suffixes such as ``.nbrun-tmp`` to it
MAX_NAME_BYTES = 200


def _check_bytes(value: str, what: str) -> None:
    """A folder name's UTF-8 length (rule 43): at most :data:`MAX_NAME_BYTES`; a lone
    surrogate (no UTF-8 form, so no folder name) is refused too."""
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise UsageError(
            f"{what} {value!r}: character {value[exc.start]!r} is a lone surrogate, which has "
            "no UTF-8 form and cannot be part of a folder name"
        ) from None
    if size > MAX_NAME_BYTES:
        raise UsageError(
            f"{what} {value!r}: {size} bytes in UTF-8; at most {MAX_NAME_BYTES} are allowed "
            "(it becomes a folder name, which filesystems limit to 255 bytes)"
        )


def _control_char(value: str) -> str | None:
    for ch in value:
        if unicodedata.category(ch) == "Cc":
            return ch
    return None


def _check_characters(value: str, what: str, forbidden: str, allowed: str) -> None:
    """The checks ids and projects share: no '.'/'..', none of ``forbidden``, no control
    characters; ``allowed`` is the message's description of the rule."""
    if value in (".", ".."):
        raise UsageError(f"{what} {value!r}: '.' and '..' are reserved path names")
    for ch in value:
        if ch in forbidden:
            raise UsageError(f"{what} {value!r}: character {ch!r} is not allowed {allowed}")
    control = _control_char(value)
    if control is not None:
        raise UsageError(f"{what} {value!r}: control character {control!r} is not allowed")


def validate_id(value: object, what: str = "run id") -> str:
    """Check a user-given run id against rule 3 and return it."""
    if not isinstance(value, str):
        raise UsageError(f"{what} {value!r}: must be a string, got {type(value).__name__}")
    if not value:
        raise UsageError(f"{what} '': must not be empty; use 1 to 64 characters, e.g. 'run-1'")
    if len(value) > 64:
        raise UsageError(f"{what} {value!r}: {len(value)} characters; at most 64 are allowed")
    if value != value.strip():
        raise UsageError(f"{what} {value!r}: no leading or trailing whitespace allowed")
    _check_characters(
        value, what, _ID_FORBIDDEN, "(none of / \\ # ? % : ; , ' and no control characters)"
    )
    _check_bytes(value, what)
    return value


def validate_project(value: object) -> str:
    """Check a project name against rule 5 and return it."""
    if not isinstance(value, str):
        raise UsageError(f"project {value!r}: must be a string, got {type(value).__name__}")
    if not value or not value.strip():
        raise UsageError(f"project {value!r}: must not be empty")
    if len(value) > 128:
        raise UsageError(f"project {value[:20]!r}...: {len(value)} characters; at most 128")
    _check_characters(value, "project", _PROJECT_FORBIDDEN, "(none of / \\ # ? % :)")
    _check_bytes(value, "project")
    return value


def validate_tags(value: object) -> tuple[str, ...]:
    """Normalise tags to a tuple (a bare string is one tag) and check rule 6."""
    if value is None:
        return ()
    if isinstance(value, str):
        tags: tuple[object, ...] = (value,)
    else:
        try:
            tags = tuple(value)  # type: ignore[arg-type]
        except TypeError:
            raise UsageError(f"tags {value!r}: must be a string or a sequence of strings") from None
    for tag in tags:
        if not isinstance(tag, str):
            raise UsageError(f"tag {tag!r}: must be a string, got {type(tag).__name__}")
        if not 1 <= len(tag) <= 64:
            raise UsageError(f"tag {tag!r}: {len(tag)} characters; a tag has 1 to 64")
    return tags  # type: ignore[return-value]


def validate_text(value: object, what: str) -> str | None:
    """Check an optional free-text field (name, notes, group, job_type)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f"{what} {value!r}: must be a string, got {type(value).__name__}")
    return value
