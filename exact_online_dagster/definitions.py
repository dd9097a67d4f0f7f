"""The Dagster code location: the sync of one Exact division as one partition of one asset.

- ``exact_online_division``: an asset with a dynamic partition per division; materializing
  a partition is a ``meltano run`` of the extractor and loader restricted to that division,
  with its own Meltano state. Retried with exponential back-off (``RetryPolicy``), never when
  the division's daily API budget is spent; in the concurrency pool ``exact_online`` (limit
  it with ``dagster instance concurrency set exact_online N``), and tagged so the run queue
  can keep one run per division at a time (``tag_concurrency_limits`` on
  ``dagster/partition``; see docs/scale-out.md).
- ``exact_online_divisions``: a sensor that asks Exact for the login's divisions, adds a
  partition for each new one and requests a sync of every division, once per interval.
- The executor comes from ``EXACT_ONLINE_DAGSTER_EXECUTOR`` (multiprocess by default;
  ``k8s`` or ``docker`` with dagster-k8s / dagster-docker installed), so the same
  definitions run under ``dagster dev`` and on a cluster.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import dagster as dg
from dagster import AssetExecutionContext, MaterializeResult, SensorEvaluationContext

from exact_online_core.errors import ConfigError
from exact_online_dagster.divisions import discover
from exact_online_dagster.meltano import run_division
from exact_online_dagster.settings import Settings

ASSET = "exact_online_division"
JOB = "exact_online_sync"
POOL = "exact_online"

divisions = dg.DynamicPartitionsDefinition(name="exact_online_divisions")


def retry_policy(settings: Settings) -> dg.RetryPolicy:
    return dg.RetryPolicy(max_retries=settings.retries, delay=settings.retry_delay,
                          backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    """The executor named by EXACT_ONLINE_DAGSTER_EXECUTOR; cluster ones imported lazily."""
    if settings.executor == "in_process":
        return dg.in_process_executor
    if settings.executor == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": settings.max_concurrent})
    module, name = {"k8s": ("dagster_k8s", "k8s_job_executor"),
                    "docker": ("dagster_docker", "docker_executor")}[settings.executor]
    try:
        executor: dg.ExecutorDefinition = getattr(importlib.import_module(module), name)
    except ImportError:
        package = module.replace("_", "-")
        raise ConfigError("EXACT_ONLINE_DAGSTER_EXECUTOR",
                          f"{settings.executor!r} needs {package}: pip install {package}"
                          ) from None
    return executor


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or Settings.from_env()

    def exact_online_division(context: AssetExecutionContext) -> MaterializeResult[Any]:
        division = int(context.partition_key)
        current = Settings.from_env()  # the run's environment (a pod may differ from the UI's)
        run = run_division(current, division)
        context.log.info("meltano run for division %s: exit %s in %.1f s\n%s", division,
                         run.returncode, run.seconds, run.output[-20000:])
        if not run.ok:
            raise dg.Failure(
                description=f"division {division}: {run.last_error()}",
                metadata={"division": division, "state_id": run.state_id},
                allow_retries=not run.daily_limit_spent,
            )
        return MaterializeResult(metadata={
            "division": division, "state_id": run.state_id,
            "seconds": dg.MetadataValue.float(round(run.seconds, 3)),
        })

    # Dagster checks the context annotation against its class; under
    # `from __future__ import annotations` it would see a string.
    exact_online_division.__annotations__["context"] = AssetExecutionContext
    asset = dg.asset(
        name=ASSET,
        partitions_def=divisions,
        retry_policy=retry_policy(settings),
        pool=POOL,
        op_tags={"exact_online/extractor": settings.extractor},
        description="The Exact Online division's data, loaded by `meltano run "
                    f"{settings.extractor} {settings.loader}` for that division only.",
    )(exact_online_division)

    sync = dg.define_asset_job(JOB, selection=[ASSET],
                               description="Sync one Exact division (one partition).")

    @dg.sensor(name="exact_online_divisions", job=sync,
               minimum_interval_seconds=settings.discovery_interval,
               description="Adds a partition for every division the login reaches and "
                           "requests a sync of each, once per interval.")
    def exact_online_divisions(context: SensorEvaluationContext) -> dg.SensorResult:
        found = discover(Settings.from_env())
        known = set(context.instance.get_dynamic_partitions(divisions.name or ""))
        new = [key for key in found if key not in known]
        window = int(time.time() // settings.discovery_interval)
        return dg.SensorResult(
            dynamic_partitions_requests=[divisions.build_add_request(new)] if new else [],
            run_requests=[dg.RunRequest(partition_key=key, run_key=f"{key}@{window}")
                          for key in found],
        )

    return dg.Definitions(assets=[asset], jobs=[sync],
                          sensors=[exact_online_divisions],
                          executor=build_executor(settings))


def add_partitions(instance: dg.DagsterInstance, settings: Settings | None = None,
                   found: list[str] | None = None) -> list[str]:
    """Discover the login's divisions now (unless ``found``) and add the missing partitions;
    returns them all."""
    if found is None:
        found = discover(settings or Settings.from_env())
    known = set(instance.get_dynamic_partitions(divisions.name or ""))
    instance.add_dynamic_partitions(divisions.name or "", [k for k in found if k not in known])
    return found


def sync_job() -> dg.JobDefinition:
    """The job, for ``dagster.reconstructable`` (run it with a ``dagster/partition`` tag)."""
    return defs.resolve_job_def(JOB)


defs = build_definitions()

__all__ = ["ASSET", "JOB", "POOL", "add_partitions", "build_definitions", "defs", "divisions",
           "sync_job"]
