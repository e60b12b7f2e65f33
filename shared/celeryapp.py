"""Celery app factory: one app and one Redis-backed queue per service.

Every service (``source``, ``kustomize``, ...) builds its app with
``create_app(service, settings)``. Tasks are named ``<service>.<verb>`` and a
router sends each task to the queue named by its prefix, so any process can
``app.send_task("kustomize.reconcile", args=[key])`` without importing the
kustomize service: the message waits in the Redis list ``kustomize`` until a
kustomize worker takes it.

Delivery on the Redis transport (measured by tests/integration/test_workers.py):

- ``task_acks_late``: a message is acked only after its task returns, so a
  worker killed mid-task (SIGKILL, OOM, lost machine) leaves it in kombu's
  ``unacked`` hash. The restore sweep of any worker on the broker, of any
  service (every ``unacked_restore_interval`` seconds with throttle 1, and
  once at worker start) puts it back on its queue
  once it is older than ``visibility_timeout``: re-delivery takes between
  ``visibility_timeout`` and ``visibility_timeout + unacked_restore_interval``
  (measured: 5.5 s after the fetch with the test settings 5 s / 1 s).
- A pool process that dies while its parent lives (OOM killer) is rejected
  and re-queued (``task_reject_on_worker_lost``) as soon as billiard notices:
  at once, or at its 5 s pool check (both measured). A hard time limit
  shorter than that check turns such a death into an acked time-out, so
  production limits stay far above it.
- The visibility clock starts when a worker fetches the message, not when
  the task starts, and nothing extends it: a task (or a ``countdown``/ETA
  wait) longer than ``visibility_timeout`` is handed to a second worker while
  the first still runs it, so healthy work runs twice (measured: a 7 s task
  with a 5 s timeout starts on a second worker 5.5 s into the first run).
  Hence the hard time limit is kept below the visibility timeout, long delays
  go through the scheduler's sorted set rather than ETA messages, and every
  task must be short and idempotent (a lease per object keeps duplicates from
  overlapping).
- A task that fails or hits its time limit is acked, not re-delivered:
  failures are written to status and retried by the scheduler.

Pools (each service declares its own in ``services/<name>/service.py``;
``sluice worker --pool/--concurrency`` overrides it). Measured on the 2-core
bench machine with ``/proc/<pid>/smaps_rollup`` (PSS of the whole worker,
idle, after start; ``make bench BENCH_ARGS="--quick --only footprint"`` for the
installation figures):

===========  ===================  ===================  ==================
service      prefork, c=2         threads, c=4         solo
===========  ===================  ===================  ==================
kustomize    3 processes, 126 MiB 1 process, 74 MiB   1 process, 70 MiB
source       3 processes, 107 MiB 1 process, 57 MiB   1 process, 57 MiB
===========  ===================  ===================  ==================

- Both services run ``threads``: a reconcile mostly waits (on ``git`` and
  ``kustomize build``, which are subprocesses and run on all cores whatever
  the pool, and on cluster API calls), so threads give the concurrency of a
  prefork pool for the memory of one interpreter. A prefork child starts as
  a copy-on-write image of its parent, but reference counting dirties most
  of its pages (measured: 25-45 MiB PSS per child, idle). With 1,000
  objects at a 1-minute interval the bench's four processes hold 210-219 MiB
  PSS under threads, 375 MiB under prefork (8 processes). The CEL library is
  imported on first use (``shared/cel.py``), not with the models: 24 MiB less
  in the kustomize worker.
- Latency, measured with the machine busy (load ~5 from other jobs): a task
  body ran 40-60% longer in a pool thread than in a prefork child or under
  ``solo`` (``source.reconcile`` 70-79 ms against 48-52 ms,
  ``kustomize.reconcile`` 38-44 ms against 20-25 ms), and commit-to-applied
  on a webhook (``make bench BENCH_ARGS="--only latency"``, 20 commits) went
  from p50 0.12 s to 0.17 s. With the machine quieter (load 1-2), the same
  runs back to back give threads p50 0.11 s / p95 0.11 s against prefork
  0.12 s / 0.17 s; polling is the same either way (p50 0.96-0.99 s). It is
  not the GIL switch interval (0.5 ms changed nothing), and a plain thread
  doing subprocess, Redis and zlib work is as fast as the main one.
- ``solo`` costs the same memory as threads and keeps the prefork task
  times (webhook p50 0.11 s, 5 commits), but runs one task at a time: a
  fan-out's per-cluster applies, or every fetch behind one slow Git remote,
  would wait in line, and the worker answers no remote control meanwhile
  (Flower's inspect calls time out). Threads, with concurrency, instead.
- What threads give up, and why it is safe here: Celery enforces no time
  limit in a thread pool, so the limits above hold only under prefork; every
  step of a reconcile carries its own timeout (git 60 s, kustomize build
  120 s, each API request 30 s), and a message redelivered while its first
  run still works finds the object's lease taken. A thread cannot be
  cancelled on a broker connection loss either: the run finishes, and its
  redelivered copy is again kept apart by the lease and harmless by
  idempotence. ``worker_max_tasks_per_child`` applies to prefork only
  (declared per service in ``WorkerShape``; none sets it).
- CPU-bound Python (parsing a large build's YAML) shares one core per worker
  process under threads; scale such load with more worker processes
  (``sluice worker`` anywhere, ``--scale`` in compose) or ``--pool prefork``.
  The tests' workers (tests/fixtures/workers.py) run prefork, which is where
  the delivery figures above come from.
"""

from __future__ import annotations

import re
from typing import Any

from celery import Celery, signals

from shared.logs import install_redaction
from shared.redisconn import broker_url
from shared.settings import Settings

__all__ = [
    "check_service",
    "create_app",
    "route_by_prefix",
    "task_limits",
    "task_name",
    "transport_options",
]

_SERVICE = re.compile(r"^[a-z][a-z0-9-]*$")

# Fraction of the visibility timeout a task may use: the rest covers the gap
# between fetch and start, so a task is killed before its message is restored.
_TIME_LIMIT_SHARE = 0.8
_SOFT_SHARE = 0.9


def check_service(service: str) -> str:
    """Return ``service`` if it can name a queue and prefix task names, else raise ValueError."""
    if not _SERVICE.match(service):
        raise ValueError(f"service name {service!r}: expected lowercase letters, digits and '-'")
    return service


def task_name(service: str, verb: str) -> str:
    """The routed name of a task: ``<service>.<verb>``."""
    return f"{service}.{verb}"


def route_by_prefix(
    name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any
) -> dict[str, str] | None:
    """Celery router: ``kustomize.reconcile`` goes to queue ``kustomize``."""
    service, sep, _ = name.partition(".")
    if not sep or service == "celery" or not _SERVICE.match(service):
        return None
    return {"queue": service}


def task_limits(settings: Settings) -> tuple[float, float]:
    """Soft and hard time limits, kept below the visibility timeout."""
    hard = min(float(settings.task_time_limit), settings.visibility_timeout * _TIME_LIMIT_SHARE)
    if hard <= 0:
        raise ValueError(
            f"task_time_limit={settings.task_time_limit} and "
            f"visibility_timeout={settings.visibility_timeout}: both must be positive"
        )
    return hard * _SOFT_SHARE, hard


def transport_options(settings: Settings) -> dict[str, Any]:
    """kombu Redis transport options (names as in kombu/transport/redis.py)."""
    return {
        "visibility_timeout": settings.visibility_timeout,
        # Sweep period is interval * throttle; throttle 1 makes the interval exact.
        "unacked_restore_interval": settings.unacked_restore_interval,
        "unacked_restore_throttle": 1,
        # A worker killed during a restore sweep holds this mutex until it
        # expires (kombu's default: 300 s), stopping every redelivery meanwhile;
        # the sweep itself is WATCH-guarded, so a short expiry is safe.
        "unacked_mutex_expire": 10,
        "socket_connect_timeout": 5,
        # Must exceed kombu's 1 s BRPOP timeout; bounds a publish on a dead socket.
        "socket_timeout": 15,
        "socket_keepalive": True,
        "health_check_interval": 10,
    }


def create_app(service: str, settings: Settings, *, include: tuple[str, ...] = ()) -> Celery:
    """The Celery app of one service, consuming only the queue named ``service``."""
    check_service(service)
    soft, hard = task_limits(settings)
    broker = broker_url(settings)
    app = Celery(service, broker=broker, include=list(include), set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        result_serializer="json",
        enable_utc=True,
        timezone="UTC",
        task_default_queue=service,
        # The same declaration a sender's router creates for a queue it doesn't know.
        task_queues={service: {"exchange": service, "routing_key": service}},
        task_routes=(route_by_prefix,),
        task_create_missing_queues=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        result_backend=None,
        task_soft_time_limit=soft,
        task_time_limit=hard,
        worker_prefetch_multiplier=1,
        # Fetch only when a pool process is free: queued work stays takeable by
        # other workers instead of waiting in a busy (or dying) worker's buffer.
        worker_disable_prefetch=True,
        worker_send_task_events=True,
        task_send_sent_event=True,
        # A task cut off by a broker outage is re-delivered rather than left
        # running unacked beside its re-delivered copy.
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_transport_options=transport_options(settings),
        task_publish_retry=True,
        task_publish_retry_policy={
            "max_retries": 10,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 2.0,
        },
    )
    signals.after_setup_logger.connect(_redact_logger, weak=False, dispatch_uid="sluice-redact")
    signals.after_setup_task_logger.connect(
        _redact_logger, weak=False, dispatch_uid="sluice-redact-task"
    )
    return app


def _redact_logger(logger: Any = None, **kwargs: Any) -> None:
    if logger is not None:
        install_redaction(logger)
