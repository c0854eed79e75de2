"""Training functions run in the background, and forks that really continue training.

``nbrun.launch(train, **init_kwargs)`` starts a run and calls ``train(run)`` on a background
thread, so the kernel stays free for clicks and cells. Inside ``train``, ``run.restore()``
gives the state to start from and ``run.checkpoint(state)`` saves it. ``run.fork(step)`` and
``run.rewind(step)`` of a launched run snap to the latest checkpoint at or before ``step``,
create the new run there (``fork_from`` / ``resume_from``), and call the same function with
the restored state and the edited config on a new thread.

With ``executor=`` (any ``concurrent.futures.Executor``: a process pool, a Dask cluster's
``client.get_executor()``) the training goes to that executor instead: the run record is made
here first (so dashboards and lineage show it at once), then handed off; a worker opens the
same store, takes the run over, restores the checkpoint from the run files and trains. The
caller gets a :class:`RemoteRun`, a stored view of the run with ``wait`` / ``error`` / ``stop``.

The package, one module per concept, importing one way (no cycle):
``state`` (the training functions registered by run; checkpoints along the lineage, restore)
-> ``detached`` (runs made on the side; plain forks and rewinds) -> ``recover`` (recovery by
rewind: the per-run observer and the rewind after a divergence) -> ``body`` (what runs
``train``: output capture, recoveries, the run's end) -> ``remote`` (executors: hand-off, take-over,
:class:`RemoteRun`) -> ``launcher`` (``launch`` and the start shared with forks) -> ``forks``
(forks and rewinds that continue training); ``compare`` (``ranking``) stands apart.
This ``__init__`` re-exports the names the rest of nbrun and the tests use and registers the
actions the read and run layers reach through ``_actions``.
"""

from __future__ import annotations

from .. import _actions
from .._lifecycle import QUEUED_HOST, Recover
from .compare import ranking
from .detached import fork_run, init_detached, rewind_run
from .forks import fork, fork_many, rewind
from .launcher import launch
from .recover import RECOVERED
from .remote import TRAINING_LOST, RemoteRun
from .state import checkpoints, find_checkpoint, restore, run_folder, save_checkpoint, train_spec

__all__ = [
    "QUEUED_HOST",
    "RECOVERED",
    "TRAINING_LOST",
    "Recover",
    "RemoteRun",
    "checkpoints",
    "find_checkpoint",
    "fork",
    "fork_many",
    "fork_run",
    "init_detached",
    "launch",
    "ranking",
    "restore",
    "rewind",
    "rewind_run",
    "run_folder",
    "save_checkpoint",
    "train_spec",
]

# -- the actions the read and run layers reach through _actions --------------------------------
_actions.register("fork", fork)
_actions.register("rewind", rewind)
_actions.register("fork_many", fork_many)
_actions.register("checkpoints", checkpoints)
_actions.register("save_checkpoint", save_checkpoint)
_actions.register("restore", restore)
