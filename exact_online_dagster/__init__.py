"""Dagster fan-out for many Exact divisions: a dynamic partition per division, each a meltano run.

Load ``exact_online_dagster.definitions`` (``dagster dev -m exact_online_dagster.definitions``).
Optional: ``pip install 'tap-exact-online[orchestration]'``.
"""
