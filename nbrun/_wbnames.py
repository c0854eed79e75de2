"""W&B's names that ``nbrun.init`` accepts (rule 38): ``init`` keywords, ``settings`` keys and
``WANDB_*`` environment variables, with what each one does here.

W&B code passes them freely (Lightning's ``WandbLogger`` sets ``WANDB_MODE=dryrun``, HF's
``Trainer`` passes its own ``init`` keywords), so nbrun accepts every one W&B 0.31 accepts,
applies those that mean something for local runs, and says once which it ignores.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

#: W&B 0.31 ``init`` keywords nbrun has no use for (``magic`` is older W&B's)
IGNORED_INIT_KEYWORDS = (
    "force",
    "save_code",
    "tensorboard",
    "sync_tensorboard",
    "monitor_gym",
    "anonymous",
    "magic",
)

#: every ``wandb.Settings`` field of W&B 0.31 (``x_*`` also spelled ``_*``, as older W&B did)
SETTINGS_KEYS = frozenset(
    """
allow_media_symlink allow_offline_artifacts allow_val_change anonymous api_key
azure_account_url_to_access_key app_url_override base_url code_dir config_paths console
console_multipart console_chunk_max_bytes console_chunk_max_seconds capture_loggers
credentials_file disable_code disable_git disable_git_fork_point disable_job_creation docker
email entity organization force fork_from git_commit git_remote git_remote_url git_root
heartbeat_seconds host http_proxy https_proxy identity_token_file ignore_globs init_timeout
finish_timeout finish_timeout_raises insecure_disable_ssl job_name job_source label_disable
launch launch_config_path login_timeout mode notebook_name program program_abspath
program_relpath project quiet reinit relogin resume resume_from resumed root_dir run_group
run_id run_job_type run_name run_notes run_tags sagemaker_disable save_code settings_system
stop_fn max_end_of_run_history_metrics max_end_of_run_summary_metrics show_colors show_emoji
show_errors show_info show_warnings silent start_method stop_on_fatal_error strict
summary_timeout summary_warnings sweep_id sweep_param_path symlink sync_tensorboard
table_raise_on_max_row_limit_exceeded use_dot_wandb username x_cli_only_mode x_disable_meta
x_disable_stats x_disable_viewer x_disable_machine_info x_executable x_extra_http_headers
x_file_stream_max_bytes x_file_stream_max_line_bytes x_file_stream_transmit_interval
x_file_stream_no_gzip x_file_stream_retry_max x_file_stream_retry_wait_min_seconds
x_file_stream_retry_wait_max_seconds x_file_stream_timeout_seconds x_file_transfer_retry_max
x_file_transfer_retry_wait_min_seconds x_file_transfer_retry_wait_max_seconds
x_file_transfer_timeout_seconds x_files_dir x_flow_control_custom x_flow_control_disabled
x_graphql_retry_max x_graphql_retry_wait_min_seconds x_graphql_retry_wait_max_seconds
x_graphql_timeout_seconds x_history_value_encoding x_internal_check_process x_jupyter_name
x_jupyter_path x_jupyter_root x_label x_live_policy_rate_limit x_live_policy_wait_time
x_log_level x_network_buffer x_primary x_proxies x_runqueue_item_id x_save_requirements
x_server_side_derived_summary x_service_transport x_service_wait x_skip_transaction_log
x_start_time x_stats_pid x_stats_sampling_interval x_stats_neuron_monitor_config_path
x_stats_dcgm_exporter x_stats_open_metrics_endpoints x_stats_open_metrics_filters
x_stats_open_metrics_http_headers x_stats_disk_paths x_stats_cpu_count
x_stats_cpu_logical_count x_stats_gpu_count x_stats_gpu_type x_stats_gpu_device_ids
x_stats_buffer_size x_stats_coreweave_metadata_base_url x_stats_coreweave_metadata_endpoint
x_stats_track_process_tree x_stats_no_cgroup x_stats_self_usage x_sync x_sync_dir_suffix
x_transaction_log_flush_interval x_update_finish_state
""".split()
)

#: settings that stand for an ``init`` argument (the argument wins when both are given)
SETTINGS_AS_ARGS = {
    "mode": "mode",
    "project": "project",
    "entity": "entity",
    "run_id": "id",
    "run_name": "name",
    "run_notes": "notes",
    "run_tags": "tags",
    "run_group": "group",
    "run_job_type": "job_type",
    "resume": "resume",
    "resume_from": "resume_from",
    "fork_from": "fork_from",
    "reinit": "reinit",
    "allow_val_change": "allow_val_change",
    "root_dir": "dir",
}

#: settings nbrun applies itself (besides SETTINGS_AS_ARGS)
APPLIED_SETTINGS = frozenset(
    {
        "disable_git",
        "silent",
        "quiet",
        "show_warnings",
        "console",
        "x_disable_stats",
        "x_stats_sampling_interval",
    }
)

#: W&B environment variables and the ``init`` argument each supplies
ENV_ARGS = {
    "WANDB_PROJECT": "project",
    "WANDB_ENTITY": "entity",
    "WANDB_DIR": "dir",
    "WANDB_RUN_ID": "id",
    "WANDB_NAME": "name",
    "WANDB_NOTES": "notes",
    "WANDB_TAGS": "tags",
    "WANDB_RUN_GROUP": "group",
    "WANDB_JOB_TYPE": "job_type",
    "WANDB_MODE": "mode",
    "WANDB_RESUME": "resume",
}

#: W&B environment variables that supply a setting
ENV_SETTINGS = {
    "WANDB_SILENT": "silent",
    "WANDB_QUIET": "quiet",
    "WANDB_CONSOLE": "console",
    "WANDB_DISABLE_GIT": "disable_git",
    "WANDB_DISABLE_CODE": "disable_code",
    "WANDB_SAVE_CODE": "save_code",
    "WANDB_X_DISABLE_STATS": "x_disable_stats",
    "WANDB__DISABLE_STATS": "x_disable_stats",
}

_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})

_warned: set[str] = set()


def settings_key(key: str) -> str | None:
    """W&B's name for a settings key (``_disable_stats`` -> ``x_disable_stats``), or None."""
    if key in SETTINGS_KEYS:
        return key
    if key.startswith("_") and "x" + key in SETTINGS_KEYS:
        return "x" + key
    return None


def env_flag(value: str) -> bool:
    """A W&B boolean environment value (``true``, ``1``, ``yes`` ...)."""
    return value.strip().lower() in _TRUE


def env_arg(name: str) -> Any:
    """The value a W&B environment variable gives the ``init`` argument ``name``, or None."""
    for var, arg in ENV_ARGS.items():
        if arg == name:
            value = os.environ.get(var)
            if value:
                if name == "tags":
                    return tuple(t.strip() for t in value.split(",") if t.strip())
                return value
    if name == "mode" and env_flag(os.environ.get("WANDB_DISABLED", "")):
        return "disabled"  # transformers' and older W&B's switch
    return None


def env_settings() -> dict[str, Any]:
    """W&B settings given by ``WANDB_*`` environment variables (booleans parsed)."""
    out: dict[str, Any] = {}
    for var, key in ENV_SETTINGS.items():
        value = os.environ.get(var)
        if value:
            out[key] = value if key == "console" else env_flag(value)
    return out


def warn_ignored(names: Iterable[str], silent: bool = False, stacklevel: int = 3) -> None:
    """Say once per process which W&B keywords / settings nbrun ignores (rule 38);
    ``stacklevel`` counts from this function's caller's caller, as ``warnings.warn`` does."""
    new = sorted(set(names) - _warned)
    if not new:
        return
    _warned.update(new)
    if silent:
        return
    warnings.warn(
        "nbrun.init: W&B options with no effect on local runs were ignored: " + ", ".join(new),
        UserWarning,
        stacklevel=stacklevel,
    )


def is_set(value: Any) -> bool:
    """Whether a W&B keyword was given a value that asks for something (not None/False)."""
    return value is not None and value is not False and not _is_unset(value)


def _is_unset(value: Any) -> bool:
    return type(value).__name__ in ("DoNotSet", "_Unset")


def split_settings(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(nbrun engine settings, W&B settings by W&B name); unknown keys stay in the first."""
    own: dict[str, Any] = {}
    wb: dict[str, Any] = {}
    for k, v in values.items():
        name = settings_key(k) if isinstance(k, str) else None
        if name is not None:
            wb[name] = v
        else:
            own[k] = v
    return own, wb
