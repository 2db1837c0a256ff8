"""Environment + flags -> one frozen Config. The only module that reads the environment."""
from __future__ import annotations

import os
import shlex
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from typing import Mapping, Optional

from kube_addons.profiles import DEFAULT_PROFILE, PROFILES, Profile

DEFAULT_KUBECTL = "/usr/local/bin/kubectl"
DEFAULT_ADDON_PATH = "/etc/kubernetes/addons"
DEFAULT_ADMISSION_DIR = "/etc/kubernetes/admission-controls"
DEFAULT_NAMESPACE_FILE = "/opt/namespace.yaml"
DEFAULT_INTERVAL = 60
DEFAULT_KUBECTL_TIMEOUT = 120.0

# Environment variables: upstream's names first, then our own.
ENV_KUBECTL_BIN = "KUBECTL_BIN"
ENV_KUBECTL_OPTS = "KUBECTL_OPTS"
ENV_ADDON_PATH = "ADDON_PATH"
ENV_INTERVAL = "TEST_ADDON_CHECK_INTERVAL_SEC"
ENV_LEADER_ELECTION = "ADDON_MANAGER_LEADER_ELECTION"
ENV_HOSTNAME = "HOSTNAME"
ENV_PRUNE_OVERRIDE = "KUBECTL_PRUNE_WHITELIST_OVERRIDE"
ENV_PRUNE_EXTRA = "KUBECTL_EXTRA_PRUNE_WHITELIST"
ENV_ADMISSION_DIR = "KUBE_ADDONS_ADMISSION_DIR"
ENV_PROFILE = "KUBE_ADDONS_PROFILE"
ENV_KUBECTL_TIMEOUT = "KUBE_ADDONS_KUBECTL_TIMEOUT"
ENV_NAMESPACE_FILE = "KUBE_ADDONS_NAMESPACE_FILE"
ENV_GUARDS = "KUBE_ADDONS_GUARDS"
ENV_MAX_PRUNE = "KUBE_ADDONS_MAX_PRUNE"
ENV_ALLOW_PRUNE = "KUBE_ADDONS_ALLOW_PRUNE"
ENV_STATE = "KUBE_ADDONS_STATE_CONFIGMAP"
ENV_EXACT = "KUBE_ADDONS_EXACT"
ENV_FULL_EVERY = "KUBE_ADDONS_FULL_PASS_EVERY"
DEFAULT_FULL_EVERY = 10
DEFAULT_MAX_PRUNE = 5

LEADER_KCM = "kcm"
LEADER_OFF = "off"
LEADER_LEASE = "lease"  # our own Lease (kube_addons.election), not upstream's


class ConfigError(ValueError):
    """A setting is unusable; the message names the variable or path."""


@dataclass(frozen=True)
class Config:
    kubectl_bin: str
    kubectl_opts: tuple[str, ...]
    addon_path: str
    interval: int
    leader_election: str
    hostname: str
    prune_allowlist: tuple[str, ...]
    admission_dir: str
    profile: Profile
    kubectl_timeout: float
    # Raw interval text, printed in the "started" line as upstream echoes it.
    interval_text: str = ""
    # Applied at startup by profiles with a namespace bootstrap (v8.6; upstream hard-codes it).
    namespace_file: str = DEFAULT_NAMESPACE_FILE
    guards: bool = True
    max_prune: int = DEFAULT_MAX_PRUNE
    allow_prune: frozenset[str] = frozenset()
    # ConfigMap in kube-system remembering what each file held; "" = derived from
    # ADDON_PATH, "none" = memory only.
    state_configmap: str = ""
    # Upstream's three kubectl runs every pass, nothing skipped (the baseline); otherwise a
    # pass whose live objects already match is answered without re-applying, and every
    # full_pass_every-th pass is exact anyway.
    exact: bool = False
    full_pass_every: int = DEFAULT_FULL_EVERY
    # Where kubectl keeps its discovery/OpenAPI cache when HOME cannot hold it ("" = its
    # default). Without a cache every call repeats full discovery.
    kubectl_cache_dir: str = ""
    warnings: tuple[str, ...] = field(default=())


def _get(env: Mapping[str, str], name: str) -> str:
    """bash's ${VAR:-default}: unset and empty are the same."""
    return env.get(name) or ""


def parse_interval(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ConfigError(
            f"{ENV_INTERVAL} must be a whole number of seconds, got {text!r}"
        ) from None
    if value < 0:
        raise ConfigError(f"{ENV_INTERVAL} must not be negative, got {text!r}")
    return value


def parse_leader_election(text: str) -> tuple[str, Optional[str]]:
    """Upstream runs the value as a command: `true` (or empty) on, `false` off.

    Any other value fails as a command and so also turns election off, with a bash
    error each pass; we say it once, clearly.
    """
    if text in ("", "true"):
        return LEADER_KCM, None
    if text == "false":
        return LEADER_OFF, None
    if text in (LEADER_KCM, LEADER_OFF, LEADER_LEASE):
        return text, None
    return LEADER_OFF, (
        f"{ENV_LEADER_ELECTION}={text!r} is neither 'true' nor 'false'; "
        "leader election is disabled (as upstream ends up doing)"
    )


def prune_allowlist(profile: Profile, override: str, extra: str) -> tuple[str, ...]:
    """Override replaces the default list, extra is appended; both split on whitespace."""
    base: tuple[str, ...]
    if override.strip():
        base = tuple(override.split())
    else:
        base = profile.default_prune_allowlist or ()
    return base + tuple(extra.split())


def resolve_kubectl(text: str) -> tuple[str, tuple[str, ...]]:
    """KUBECTL_BIN is expanded unquoted upstream, so it may carry extra words."""
    words = shlex.split(text)
    if not words:
        raise ConfigError(f"{ENV_KUBECTL_BIN} is empty")
    binary = words[0]
    if os.sep not in binary:
        found = shutil.which(binary)
        if not found:
            raise ConfigError(f"{ENV_KUBECTL_BIN}: {binary!r} not found on PATH")
        binary = found
    if not os.path.isfile(binary):
        raise ConfigError(f"{ENV_KUBECTL_BIN}: kubectl not found at {binary}")
    if not os.access(binary, os.X_OK):
        raise ConfigError(f"{ENV_KUBECTL_BIN}: {binary} is not executable")
    return binary, tuple(words[1:])


def parse_switch(name: str, text: str, default: bool = True) -> bool:
    if text == "":
        return default
    if text in ("on", "true", "1"):
        return True
    if text in ("off", "false", "0"):
        return False
    raise ConfigError(f"{name} must be on or off, got {text!r}")


def parse_count(name: str, text: str, default: int) -> int:
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {text!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {text!r}")
    return value


def kubectl_cache_dir(env: Mapping[str, str]) -> str:
    """A writable cache folder for kubectl when $HOME/.kube is not (read-only static pods)."""
    if env.get("KUBECACHEDIR"):
        return ""
    home = env.get("HOME") or ""
    kube_dir = os.path.join(home, ".kube")
    target = kube_dir if os.path.isdir(kube_dir) else home
    if home and os.path.isdir(target) and os.access(target, os.W_OK):
        return ""
    return os.path.join(tempfile.gettempdir(), "kube-addons-kubectl-cache")


def parse_timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(
            f"{ENV_KUBECTL_TIMEOUT} must be a number of seconds, got {text!r}"
        ) from None
    if value <= 0:
        raise ConfigError(f"{ENV_KUBECTL_TIMEOUT} must be positive, got {text!r}")
    return value


def load(
    env: Mapping[str, str],
    flags: Optional[Mapping[str, str]] = None,
    check_kubectl: bool = True,
) -> Config:
    """Build the Config. `flags` are keyed by the environment variable they override."""
    merged = dict(env)
    for name, value in (flags or {}).items():
        if value is not None:
            merged[name] = value

    profile_name = _get(merged, ENV_PROFILE) or DEFAULT_PROFILE.name
    profile = PROFILES.get(profile_name)
    if profile is None:
        raise ConfigError(
            f"{ENV_PROFILE}: unknown profile {profile_name!r} (known: {', '.join(PROFILES)})"
        )

    kubectl_text = _get(merged, ENV_KUBECTL_BIN) or DEFAULT_KUBECTL
    if check_kubectl:
        kubectl_bin, extra_words = resolve_kubectl(kubectl_text)
    else:
        words = shlex.split(kubectl_text) or [DEFAULT_KUBECTL]
        kubectl_bin, extra_words = words[0], tuple(words[1:])
    try:
        opts = tuple(shlex.split(_get(merged, ENV_KUBECTL_OPTS)))
    except ValueError as exc:
        raise ConfigError(
            f"{ENV_KUBECTL_OPTS}: cannot split {merged.get(ENV_KUBECTL_OPTS)!r}: {exc}"
        ) from None

    interval_text = _get(merged, ENV_INTERVAL) or str(DEFAULT_INTERVAL)
    leader, warning = parse_leader_election(_get(merged, ENV_LEADER_ELECTION))
    hostname = _get(merged, ENV_HOSTNAME) or socket.gethostname()
    timeout_text = _get(merged, ENV_KUBECTL_TIMEOUT)

    return Config(
        kubectl_bin=kubectl_bin,
        kubectl_opts=extra_words + opts,
        addon_path=_get(merged, ENV_ADDON_PATH) or DEFAULT_ADDON_PATH,
        interval=parse_interval(interval_text),
        interval_text=interval_text,
        leader_election=leader,
        hostname=hostname,
        prune_allowlist=prune_allowlist(
            profile, _get(merged, ENV_PRUNE_OVERRIDE), _get(merged, ENV_PRUNE_EXTRA)
        ),
        admission_dir=_get(merged, ENV_ADMISSION_DIR) or DEFAULT_ADMISSION_DIR,
        namespace_file=_get(merged, ENV_NAMESPACE_FILE) or DEFAULT_NAMESPACE_FILE,
        profile=profile,
        kubectl_timeout=parse_timeout(timeout_text) if timeout_text else DEFAULT_KUBECTL_TIMEOUT,
        warnings=(warning,) if warning else (),
        guards=parse_switch(ENV_GUARDS, _get(merged, ENV_GUARDS)),
        max_prune=parse_count(ENV_MAX_PRUNE, _get(merged, ENV_MAX_PRUNE), DEFAULT_MAX_PRUNE),
        allow_prune=frozenset(_get(merged, ENV_ALLOW_PRUNE).split()),
        state_configmap=_get(merged, ENV_STATE),
        exact=parse_switch(ENV_EXACT, _get(merged, ENV_EXACT), default=False),
        full_pass_every=parse_count(ENV_FULL_EVERY, _get(merged, ENV_FULL_EVERY),
                                    DEFAULT_FULL_EVERY),
        kubectl_cache_dir=kubectl_cache_dir(merged),
    )
