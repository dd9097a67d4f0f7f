"""The Dagster definitions themselves: partitions, retries, pool, executor, failures, run dirs."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import dagster as dg
import pytest
import yaml

from exact_online_core.errors import ConfigError
from exact_online_dagster.definitions import (
    ASSET,
    JOB,
    POOL,
    build_definitions,
    build_executor,
    divisions,
)
from exact_online_dagster.meltano import _system_dir, run_division, state_id
from exact_online_dagster.settings import Settings

FAKE_MELTANO = """#!/bin/sh
# Stands in for meltano: records its arguments and environment, says what it was told to.
printf '%s\\n' "$@" > "$FAKE_DIR/args"
env > "$FAKE_DIR/env"
ls -la "$MELTANO_SYS_DIR_ROOT" > "$FAKE_DIR/sysdir"
echo "$FAKE_SAYS" >&2
exit "$FAKE_EXIT"
"""


@pytest.fixture
def fake_meltano(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "meltano"
    script.write_text(FAKE_MELTANO)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    project = tmp_path / "project"
    (project / ".meltano" / "extractors").mkdir(parents=True)
    (project / ".meltano" / "run" / "tap-exact-online").mkdir(parents=True)
    monkeypatch.setenv("FAKE_DIR", str(tmp_path))
    monkeypatch.setenv("FAKE_SAYS", "Run completed")
    monkeypatch.setenv("FAKE_EXIT", "0")
    monkeypatch.setenv("EXACT_ONLINE_DAGSTER_MELTANO", str(script))
    monkeypatch.setenv("EXACT_ONLINE_DAGSTER_PROJECT", str(project))
    monkeypatch.setenv("EXACT_ONLINE_DAGSTER_ENVIRONMENT", "prod")
    monkeypatch.setenv("EXACT_ONLINE_DAGSTER_RETRY_DELAY", "0")
    monkeypatch.setenv("EXACT_ONLINE_DAGSTER_RETRIES", "2")
    monkeypatch.delenv("MELTANO_DATABASE_URI", raising=False)
    return tmp_path


def materialize(partition: str) -> dg.ExecuteInProcessResult:
    definitions = build_definitions(Settings.from_env())
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(divisions.name or "", [partition])
    job = definitions.resolve_job_def(JOB)
    return job.execute_in_process(partition_key=partition, instance=instance,
                                  raise_on_error=False)


def test_the_asset_has_a_dynamic_partition_per_division_retries_and_a_pool(
        fake_meltano: Path) -> None:
    definitions = build_definitions(Settings.from_env())
    asset = definitions.resolve_assets_def(ASSET)
    assert asset.partitions_def == divisions
    assert isinstance(asset.partitions_def, dg.DynamicPartitionsDefinition)
    op = asset.op
    assert op.retry_policy is not None and op.retry_policy.max_retries == 2
    assert op.retry_policy.backoff == dg.Backoff.EXPONENTIAL
    assert op.pool == POOL
    assert definitions.resolve_sensor_def("exact_online_divisions").job_name == JOB


def test_a_partition_runs_meltano_for_its_division_only_with_its_own_state(
        fake_meltano: Path) -> None:
    result = materialize("100004")
    assert result.success
    args = (fake_meltano / "args").read_text().split()
    assert args == ["--environment=prod", "run", "--state-id-suffix=division-100004",
                    "tap-exact-online", "target-postgres"]
    env = dict(line.split("=", 1) for line in (fake_meltano / "env").read_text().splitlines()
               if "=" in line)
    assert json.loads(env["TAP_EXACT_ONLINE_DIVISIONS"]) == [100004]
    project = Path(os.environ["EXACT_ONLINE_DAGSTER_PROJECT"])
    assert env["MELTANO_DATABASE_URI"] == f"sqlite:///{project / '.meltano' / 'meltano.db'}"
    assert not env["MELTANO_SYS_DIR_ROOT"].startswith(str(project))
    materialized = result.asset_materializations_for_node(ASSET)
    assert materialized[0].partition == "100004"
    assert materialized[0].metadata["state_id"].value == (
        "prod:tap-exact-online-to-target-postgres:division-100004")


def test_a_failed_division_is_retried_and_named_in_the_failure(
        fake_meltano: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SAYS", "error: GET sync/CRM/Accounts (division 100002): boom")
    monkeypatch.setenv("FAKE_EXIT", "1")
    result = materialize("100002")
    assert not result.success
    events = dg.DagsterEventType
    retries = [e for e in result.all_events if e.event_type == events.STEP_UP_FOR_RETRY]
    assert len(retries) == 2
    failure = next(e for e in result.all_events if e.event_type == events.STEP_FAILURE)
    assert "division 100002: error: GET sync/CRM/Accounts (division 100002): boom" in str(
        failure.step_failure_data.user_failure_data.description)  # type: ignore[union-attr]


def test_a_spent_daily_budget_is_not_retried(
        fake_meltano: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_SAYS", "Stopping: GET sync/CRM/Accounts (division 100002): the "
                       "daily API call limit for this division is spent.")
    monkeypatch.setenv("FAKE_EXIT", "1")
    result = materialize("100002")
    assert not result.success
    assert not [e for e in result.all_events
                if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]


def test_each_run_has_its_own_run_directory_and_shares_the_installed_plugins(
        tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".meltano" / "extractors" / "tap-exact-online").mkdir(parents=True)
    (project / ".meltano" / "run" / "tap-exact-online").mkdir(parents=True)
    (project / ".meltano" / "meltano.db").write_text("")
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    one, two = _system_dir(project, first), _system_dir(project, second)
    assert (one / "extractors").resolve() == (project / ".meltano" / "extractors").resolve()
    assert (two / "extractors" / "tap-exact-online").is_dir()
    assert not (one / "run").exists() and not (one / "meltano.db").exists()


def test_state_ids_are_per_division() -> None:
    settings = Settings.from_env({"EXACT_ONLINE_DAGSTER_ENVIRONMENT": "prod",
                                  "EXACT_ONLINE_DAGSTER_LOADER": "target-snowflake"})
    assert state_id(settings, 100001) == "prod:tap-exact-online-to-target-snowflake:division-100001"


def test_meltano_that_cannot_start_is_a_failed_run_not_a_crash(tmp_path: Path) -> None:
    settings = Settings.from_env({"EXACT_ONLINE_DAGSTER_MELTANO": "/bin/false",
                                  "EXACT_ONLINE_DAGSTER_PROJECT": str(tmp_path)})
    run = run_division(settings, 100001)
    assert not run.ok and run.returncode == 1
    assert run.last_error() == "meltano exited with 1"


@pytest.mark.parametrize(("name", "value", "says"), [
    ("EXECUTOR", "celery", "must be one of multiprocess, in_process, k8s, docker"),
    ("RETRIES", "three", "must be a whole number, got 'three'"),
    ("MAX_CONCURRENT", "-1", "must not be negative"),
])
def test_a_bad_setting_is_refused_naming_the_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({f"EXACT_ONLINE_DAGSTER_{name}": value})
    assert caught.value.setting == f"EXACT_ONLINE_DAGSTER_{name}"
    assert says in str(caught.value)


def test_the_multiprocess_executor_is_the_default_with_its_limit() -> None:
    settings = Settings.from_env({"EXACT_ONLINE_DAGSTER_MAX_CONCURRENT": "3"})
    executor = build_executor(settings)
    assert executor.name == "multiprocess"


@pytest.mark.parametrize(("kind", "package"), [("k8s", "dagster-k8s"),
                                               ("docker", "dagster-docker")])
def test_a_cluster_executor_without_its_package_says_what_to_install(
        kind: str, package: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, package.replace("-", "_"), None)
    with pytest.raises(ConfigError) as caught:
        build_executor(Settings.from_env({"EXACT_ONLINE_DAGSTER_EXECUTOR": kind}))
    assert f"pip install {package}" in str(caught.value)


def test_the_documented_instance_configuration_is_valid(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "scale-out.md").read_text()
    block = re.search(r"```yaml\n(# \$DAGSTER_HOME/dagster.yaml.*?)```", doc, re.DOTALL)
    assert block is not None
    config = yaml.safe_load(block.group(1))
    assert config["storage"]["postgres"]["postgres_url"] == {"env": "DAGSTER_PG_URL"}
    del config["storage"]  # dagster-postgres is the deployment's; not installed here
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 16
        assert concurrency.run_queue_config is not None
        limits = concurrency.run_queue_config.tag_concurrency_limits
        assert limits == [{"key": "dagster/partition",
                           "value": {"applyLimitPerUniqueValue": True}, "limit": 1}]


CONFIG_MELTANO = """#!/bin/sh
# Stands in for `meltano config --unsafe print tap-exact-online --format=json`.
cat "$FAKE_DIR/config.json"
"""


def test_discover_adds_a_partition_per_division_of_the_login_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    from exact_online_dagster.__main__ import main
    from exact_online_sandbox.server import Sandbox

    script = tmp_path / "meltano"
    script.write_text(CONFIG_MELTANO)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("FAKE_DIR", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EXACT_ONLINE_DAGSTER_MELTANO", str(script))
    monkeypatch.setenv("EXACT_ONLINE_DAGSTER_PROJECT", str(tmp_path))
    with Sandbox(seed=None) as sandbox:
        sandbox.reset(seed=None, divisions=5)
        (tmp_path / "config.json").write_text(json.dumps({
            "base_url": sandbox.base_url, "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
            "refresh_token": sandbox.mint_refresh_token(),
            "token_store": str(tmp_path / "tokens.json"), "divisions": [100001]}))
        first = main(["discover"])
        said_first = capsys.readouterr().out.strip().splitlines()[-1]
        second = main(["discover"])
        said_second = capsys.readouterr().out.strip().splitlines()[-1]
    assert (first, second) == (0, 0)
    # 100003 is the sandbox's division the login cannot reach: no partition for it
    assert said_first == "5 divisions, 5 new partitions: 100001, 100002, 100004, 100005, 100006"
    assert said_second == "5 divisions, 0 new partitions"


def test_discover_names_a_meltano_that_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
        ) -> None:
    from exact_online_dagster.__main__ import main

    (tmp_path / "home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EXACT_ONLINE_DAGSTER_MELTANO", "/bin/false")
    monkeypatch.setenv("EXACT_ONLINE_DAGSTER_PROJECT", str(tmp_path))
    assert main(["discover"]) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        f"error: meltano config print tap-exact-online failed in {tmp_path.resolve()}")
