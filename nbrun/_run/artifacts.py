"""A live run's artifact methods (rules 35-36): ``log_artifact``, ``use_artifact``, upserts,
links, the model registry and ``log_code``: methods of :class:`~nbrun._run.run.Run`."""

from __future__ import annotations

import os
from typing import Any

from .. import _artifacts
from .._artifacts import Artifact
from .._states import LIVE_STATES
from ..errors import UsageError
from .fields import LiveRunFields


class RunArtifacts(LiveRunFields):
    """Logging, using and linking artifacts from a live run."""

    # -- artifacts (rules 35-36) ------------------------------------------------------------
    def _require_live(self, what: str) -> None:
        if self._state not in LIVE_STATES:
            raise UsageError(
                f"{what}: run {self.id} is {self._state}; use nbrun.Api() to read artifacts, or "
                "continue the run with nbrun.init(id=..., resume='allow')"
            )

    def _usage_step(self) -> int:
        """The step an artifact logged or used now belongs to: the last written row (like a
        checkpoint), so a rewind to an earlier step moves it with the rows after it."""
        return self._step - 1

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | str | None = None,
        tags: list[str] | None = None,
    ) -> Artifact:
        """Store an artifact as this run's output: a new version ``v<N>`` of its name, or the
        existing version with the same content. ``aliases`` point at it, ``latest`` moves to
        the newest version. A path (file, folder or ``file://`` URI) becomes an artifact named
        ``run-<id>-<basename>`` of type ``type`` (default ``unspecified``)."""
        self._require_live("log_artifact")
        art = _artifacts.coerce(artifact_or_path, name, type, self.id)
        usage = (self._key, "output", self._usage_step())
        return _artifacts.log(self._store, self.project, art, aliases, tags, usage)

    def use_artifact(
        self,
        artifact_or_name: Artifact | str,
        type: str | None = None,
        aliases: list[str] | str | None = None,
        use_as: str | None = None,
    ) -> Artifact:
        """Mark a version as this run's input and return it: ``"name:v1"``, ``"name:alias"``,
        ``"project/name:alias"`` (no version: ``latest``), or an ``Artifact`` (a draft one is
        stored first). ``aliases`` are added to it."""
        self._require_live("use_artifact")
        if isinstance(artifact_or_name, Artifact):
            art = artifact_or_name
            if type is not None and art.type != type:
                raise ValueError(f"use_artifact: {art.name!r} has type {art.type!r}, not {type!r}")
            art = _artifacts.log(self._store, self.project, art, aliases, None, None)
        else:
            art = _artifacts.fetch(self._store, artifact_or_name, self.project, type)
            if aliases:
                art = _artifacts.log(self._store, self.project, art, aliases, None, None)
        assert art.id is not None  # logged: its id is its key in this store
        self._store.add_usage(int(art.id), self._key, "input", self._usage_step())
        return art

    def _distributed_id(self, distributed_id: str | None, what: str) -> str:
        did = distributed_id if distributed_id is not None else self.group
        if not isinstance(did, str) or not did:
            raise UsageError(
                f"{what}: pass distributed_id= (or start the runs with the same group=) so the "
                "runs building one version find each other"
            )
        return did

    def upsert_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | str | None = None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Add files to a version that several runs build together (``distributed_id``,
        default the run's group); it stays pending until one run calls
        :meth:`finish_artifact`."""
        self._require_live("upsert_artifact")
        did = self._distributed_id(distributed_id, "upsert_artifact")
        _artifacts.check_aliases(aliases)
        art = _artifacts.coerce(artifact_or_path, name, type, self.id)
        return _artifacts.upsert(self._store, self.project, art, did, self._key, self._usage_step())

    def finish_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | str | None = None,
        distributed_id: str | None = None,
    ) -> Artifact:
        """Add these files and commit the version the group built (see
        :meth:`upsert_artifact`): it becomes the next version (or the stored one with the
        same content)."""
        self._require_live("finish_artifact")
        did = self._distributed_id(distributed_id, "finish_artifact")
        art = _artifacts.coerce(artifact_or_path, name, type, self.id)
        return _artifacts.finish_distributed(
            self._store, self.project, art, did, aliases, self._key, self._usage_step()
        )

    def link_artifact(
        self,
        artifact: Artifact,
        target_path: str,
        aliases: list[str] | str | None = None,
    ) -> Artifact:
        """Link a logged version into the collection ``target_path`` (``"project/name"``;
        ``"model-registry/<name>"`` is the local model registry) as its next version."""
        self._require_live("link_artifact")
        if not isinstance(artifact, Artifact):
            raise ValueError(f"link_artifact: {artifact!r} is not an nbrun.Artifact")
        if artifact.is_draft():
            artifact = self.log_artifact(artifact)
        return _artifacts.link(self._store, artifact, target_path, aliases, self.project)

    def log_model(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        aliases: list[str] | str | None = None,
    ) -> Artifact:
        """Log a model file or folder as an artifact of type ``model`` (name default
        ``run-<id>-<basename>``)."""
        return self.log_artifact(path, name=name, type="model", aliases=aliases)

    def use_model(self, name: str) -> str:
        """Use a logged model (``"name:alias"``, ``"model-registry/name:v0"``, ...) and
        download it; returns the download folder."""
        art = self.use_artifact(name)
        if "model" not in art.type:
            raise ValueError(f"use_model: {name!r} is of type {art.type!r}, not a model")
        return art.download()

    def link_model(
        self,
        path: str | os.PathLike[str],
        registered_model_name: str,
        name: str | None = None,
        aliases: list[str] | str | None = None,
    ) -> Artifact:
        """Log a model and link it into the local model registry as the next version of
        ``registered_model_name`` (read it as ``"model-registry/<name>:latest"``)."""
        _artifacts.check_collection_name(registered_model_name, "registered_model_name")
        art = self.log_model(path, name=name)
        return self.link_artifact(
            art, f"{_artifacts.MODEL_REGISTRY}/{registered_model_name}", aliases
        )

    def log_code(
        self,
        root: str | os.PathLike[str] | None = ".",
        name: str | None = None,
        include_fn: Any = _artifacts.default_include,
        exclude_fn: Any = None,
    ) -> Artifact | None:
        """Log source files as a ``code`` artifact: the ``.py`` files under ``root`` by
        default (``include_fn(path, root)`` / ``exclude_fn(path, root)`` choose), never the
        run store's own folder; in a notebook the ``.ipynb`` too when it lies under ``root``.
        Returns None (with a warning) when nothing matched."""
        self._require_live("log_code")
        base = os.fspath(root if root is not None else ".")
        if not os.path.isdir(base):
            raise ValueError(f"log_code: root {base!r} is not a folder")
        notebook = self.metadata.get("notebook")
        files = _artifacts.collect_code(self._store, base, include_fn, exclude_fn, notebook)
        if not files:
            _artifacts.warn_no_code(base)
            return None
        command = self.metadata.get("command") or [None]
        program = notebook or command[0]
        art = Artifact(
            name or _artifacts.code_artifact_name(self.project, program, self.id), "code"
        )
        for full, entry in files:
            art.add_file(full, name=entry)
        return self.log_artifact(art)
