"""`--leader-election=lease`: our own Lease, so replicas agree on one actor without
kube-controller-manager.

The algorithm is the usual one for Kubernetes Leases, done through kubectl:

- read the Lease; create it when missing (AlreadyExists: someone else was faster);
- the holder renews by `kubectl replace` with the resourceVersion it last saw, so an
  update based on a stale read fails with Conflict instead of overwriting a rival;
- a candidate takes over when the holder is empty (released) or when the record has not
  changed for a whole lease duration *as measured on the candidate's own clock* (from
  when it first saw that record), so clock skew between nodes cannot shorten a lease;
- the holder stops acting once it could not renew for `duration - renew_period`, before
  any candidate may take over;
- on a clean stop the holder releases the Lease (empty holder), so another replica takes
  over at its next try instead of waiting out the lease.
"""
from __future__ import annotations

import datetime
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

from kube_addons.kubectl import Kubectl, Result
from kube_addons.logs import Log

LEASE_RESOURCE = "leases.v1.coordination.k8s.io"
DEFAULT_LEASE = "kube-system/kube-addons"
DEFAULT_DURATION = 15.0
DEFAULT_RENEW_PERIOD = 5.0

NOT_FOUND = "NotFound"
CONFLICT = ("Conflict", "the object has been modified")
ALREADY_EXISTS = "AlreadyExists"


class ElectionError(ValueError):
    """Unusable election settings."""


@dataclass(frozen=True)
class LeaseRecord:
    holder: str
    duration: float
    acquire_time: str
    renew_time: str
    transitions: int
    resource_version: str


def parse_lease_name(text: str) -> tuple[str, str]:
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ElectionError(f"lease must be NAMESPACE/NAME, got {text!r}")
    return namespace, name


def check_timing(duration: float, renew_period: float) -> None:
    if renew_period <= 0 or duration <= 0:
        raise ElectionError("lease duration and renew period must be positive")
    if renew_period >= duration:
        raise ElectionError(
            f"lease renew period ({renew_period:g}s) must be shorter than the lease "
            f"duration ({duration:g}s)"
        )


def new_identity(hostname: str) -> str:
    """`<hostname>_<random>`, the form kube-controller-manager uses."""
    return f"{hostname}_{secrets.token_hex(8)}"


def micro_time(moment: Optional[datetime.datetime] = None) -> str:
    """A Kubernetes MicroTime: RFC 3339 in UTC with microseconds."""
    moment = moment or datetime.datetime.now(datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_lease(text: str) -> LeaseRecord:
    obj = json.loads(text)
    spec = obj.get("spec") or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        duration=float(spec.get("leaseDurationSeconds") or 0),
        acquire_time=str(spec.get("acquireTime") or ""),
        renew_time=str(spec.get("renewTime") or ""),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str((obj.get("metadata") or {}).get("resourceVersion") or ""),
    )


def lease_object(
    namespace: str,
    name: str,
    holder: str,
    duration: float,
    acquire_time: str,
    renew_time: str,
    transitions: int,
    resource_version: str = "",
) -> dict:
    meta: dict = {"name": name, "namespace": namespace}
    if resource_version:
        meta["resourceVersion"] = resource_version  # the precondition for replace
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": max(1, int(round(duration))),
            "acquireTime": acquire_time,
            "renewTime": renew_time,
            "leaseTransitions": transitions,
        },
    }


def resource_version_of(output: str) -> str:
    try:
        return str(json.loads(output)["metadata"]["resourceVersion"])
    except (ValueError, KeyError, TypeError):
        return ""


class LeaseElector:
    def __init__(
        self,
        kubectl: Kubectl,
        log: Log,
        identity: str,
        lease: str = DEFAULT_LEASE,
        duration: float = DEFAULT_DURATION,
        renew_period: float = DEFAULT_RENEW_PERIOD,
        clock: Callable[[], float] = time.monotonic,
        on_change: Optional[Callable[[bool], None]] = None,
    ) -> None:
        check_timing(duration, renew_period)
        self.kubectl = kubectl
        self.log = log
        self.identity = identity
        self.namespace, self.name = parse_lease_name(lease)
        self.duration = duration
        self.renew_period = renew_period
        self.clock = clock
        self.on_change = on_change
        self.holder = ""  # last holder seen
        self._leading = False
        self._valid_until = 0.0
        self._record: Optional[LeaseRecord] = None  # last record seen (or written)
        self._observed_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def lease(self) -> str:
        return f"{self.namespace}/{self.name}"

    # -- kubectl ---------------------------------------------------------------------

    def _call(self, *args: str, stdin: Optional[str] = None) -> Result:
        # A lease call must never outlast the lease it is renewing.
        return self.kubectl.run(
            "-n", self.namespace, *args, stdin=stdin, timeout=max(1.0, self.renew_period)
        )

    def _get(self) -> tuple[Optional[LeaseRecord], Result]:
        result = self._call("get", LEASE_RESOURCE, self.name, "-o", "json")
        if not result.ok:
            return None, result
        try:
            return parse_lease(result.stdout), result
        except (ValueError, TypeError):
            return None, result

    def _write(self, verb: str, obj: dict) -> Result:
        return self._call(verb, "-o", "json", "-f", "-", stdin=json.dumps(obj))

    # -- one round ---------------------------------------------------------------------

    def try_once(self) -> bool:
        """One read/acquire/renew round; returns whether this process now leads."""
        started = self.clock()
        if self._leading and self._record is not None:
            # Renew straight from the record we wrote: one call per period, and the
            # resourceVersion precondition catches anyone who changed it since.
            if self._renew(self._record, started):
                return self._set_leading(True, started)
        record, result = self._get()
        if record is None:
            if NOT_FOUND in result.stderr:
                return self._set_leading(self._create(started), started)
            self.log.warn(f"lease {self.lease}: cannot read: {_first_line(result)}")
            return self._set_leading(self._leading, started)
        self._observe(record, started)
        if record.holder == self.identity:
            return self._set_leading(self._renew(record, started), started)
        if record.holder == "" or started - self._observed_at >= self._grace(record):
            return self._set_leading(self._take_over(record, started), started)
        return self._set_leading(False, started)

    def _grace(self, record: LeaseRecord) -> float:
        """How long after seeing the holder's last renewal a candidate waits. The holder
        stops acting duration - renew_period after its last successful write, and we saw
        that write at most one renew period late, so taking over at this point is safe and
        a crashed holder is replaced within one lease duration."""
        return max(record.duration - self.renew_period, self.renew_period)

    def _observe(self, record: LeaseRecord, now: float) -> None:
        seen = self._record
        if seen is None or (seen.holder, seen.renew_time, seen.resource_version) != (
            record.holder, record.renew_time, record.resource_version
        ):
            self._record = record
            self._observed_at = now
        self.holder = record.holder

    def _create(self, started: float) -> bool:
        now = micro_time()
        obj = lease_object(
            self.namespace, self.name, self.identity, self.duration, now, now, 0
        )
        result = self._write("create", obj)
        if not result.ok:
            if ALREADY_EXISTS not in result.stderr:
                self.log.warn(f"lease {self.lease}: cannot create: {_first_line(result)}")
            return False
        return self._wrote(obj, result, started)

    def _renew(self, record: LeaseRecord, started: float) -> bool:
        obj = lease_object(
            self.namespace, self.name, self.identity, self.duration,
            record.acquire_time or micro_time(), micro_time(), record.transitions,
            record.resource_version,
        )
        return self._replace(obj, started)

    def _take_over(self, record: LeaseRecord, started: float) -> bool:
        now = micro_time()
        obj = lease_object(
            self.namespace, self.name, self.identity, self.duration, now, now,
            record.transitions + 1, record.resource_version,
        )
        return self._replace(obj, started)

    def _replace(self, obj: dict, started: float) -> bool:
        result = self._write("replace", obj)
        if not result.ok:
            if not any(marker in result.stderr for marker in CONFLICT):
                self.log.warn(f"lease {self.lease}: cannot update: {_first_line(result)}")
            self._record = None  # re-read next time
            return False
        return self._wrote(obj, result, started)

    def _wrote(self, obj: dict, result: Result, started: float) -> bool:
        spec = obj["spec"]
        self._record = LeaseRecord(
            self.identity, float(spec["leaseDurationSeconds"]), spec["acquireTime"],
            spec["renewTime"], spec["leaseTransitions"], resource_version_of(result.stdout),
        )
        self._observed_at = started
        self.holder = self.identity
        # Stop acting one renew period before anyone else may take over.
        self._valid_until = started + self.duration - self.renew_period
        return True

    def _set_leading(self, leading: bool, now: float) -> bool:
        if self._leading and not leading and now < self._valid_until and self.holder in (
            self.identity, ""
        ):
            # A failed renew (API hiccup) within the deadline: still ours.
            return True
        with self._lock:
            changed = leading != self._leading
            self._leading = leading
        if changed:
            if leading:
                self.log.info(f"Acquired lease {self.lease} as {self.identity}")
            else:
                self.log.info(f"Lost lease {self.lease} (holder: {self.holder or 'none'})")
            if self.on_change is not None:
                self.on_change(leading)
        return leading

    # -- queries -----------------------------------------------------------------------

    def is_leader(self) -> bool:
        with self._lock:
            return self._leading and self.clock() < self._valid_until

    def check(self, log: Log) -> bool:
        """The per-pass decision, logged like the kcm election's lines."""
        if self.is_leader():
            log.info(f"Leader is {self.identity}")
            return True
        holder = self.holder or "nobody"
        log.info(f"Leader is {holder}, not {self.identity}")
        return False

    # -- background renewals -------------------------------------------------------------

    def start(self) -> bool:
        """First round now (so a lone replica acts at once), then renew in the background."""
        leading = self.try_once()
        self._thread = threading.Thread(target=self._loop, name="lease", daemon=True)
        self._thread.start()
        return leading

    def _next_wait(self) -> float:
        if self._leading or self._record is None:
            return self.renew_period
        # A candidate wakes right when the holder's lease runs out.
        left = self._observed_at + self._grace(self._record) - self.clock()
        return max(0.2, min(self.renew_period, left + 0.05))

    def _loop(self) -> None:
        while not self._stop.wait(self._next_wait()):
            try:
                self.try_once()
            except Exception as exc:  # noqa: BLE001 the renewer must survive anything
                self.log.warn(f"lease {self.lease}: {exc}")

    def stop(self, release: bool = True) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(2.0, self.renew_period + 1))
        if release and self._leading and self._record is not None:
            self._release(self._record)

    def _release(self, record: LeaseRecord) -> None:
        obj = lease_object(
            self.namespace, self.name, "", 1, record.acquire_time, micro_time(),
            record.transitions, record.resource_version,
        )
        result = self._write("replace", obj)
        with self._lock:
            self._leading = False
        if result.ok:
            self.log.info(f"Released lease {self.lease}")


def _first_line(result: Result) -> str:
    text = (result.stderr or result.stdout).strip()
    return text.splitlines()[0] if text else f"exit code {result.exit_code}"
