"""Storage is billed as file sizes × days: measured once an hour at most, each day's largest kept,
a day the hub missed carried from the day before."""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal

from enclave.layout import extracts_dir, workspace_dir
from enclave.settings import Settings
from metering.report import month_usage, storage_by_day
from metering.sampler import sample_storage, tree_bytes

from .conftest import GIB, at

HOUR = timedelta(hours=1)


def settings_of(registry) -> Settings:
    return Settings.from_env(registry.env())


def write(path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)  # sparse: the file's size is what is billed


def test_tree_bytes_sums_file_sizes_and_follows_no_link(tmp_path):
    write(tmp_path / "a.parquet", 1000)
    write(tmp_path / "deep" / "er" / "b.csv", 234)
    os.symlink("/usr", tmp_path / "link-to-usr")
    os.symlink(tmp_path / "a.parquet", tmp_path / "link-to-a")
    assert tree_bytes(tmp_path) == 1234
    assert tree_bytes(tmp_path / "missing") == 0


def test_storage_days_match_file_sizes_times_days(projects):
    settings = settings_of(projects)
    project_dir = settings.project_dir("alpha")
    write(extracts_dir(project_dir) / "ER_PRS_F.parquet", 3 * GIB // 4)
    write(workspace_dir(project_dir) / "notebooks" / "analysis.ipynb", GIB // 2)
    with projects.session() as session:
        for day in (1, 2, 3):  # three days of hourly passes
            for hour in range(0, 24, 1):
                sample_storage(session, settings, at(f"2026-11-0{day}T{hour:02}:30:00"), HOUR)
        # within the hour: not measured again
        assert sample_storage(session, settings, at("2026-11-03T23:40:00"), HOUR) == 0
    write(workspace_dir(project_dir) / "notebooks" / "big.bin", GIB)  # day 4: the workspace grows at noon
    with projects.session() as session:
        sample_storage(session, settings, at("2026-11-04T01:00:00"), HOUR)
        sample_storage(session, settings, at("2026-11-04T12:00:00"), HOUR)
        usage = month_usage(session, "alpha", date(2026, 11, 1), today=date(2026, 11, 4))
    assert usage.people["(project)"]["extract_gib_days"] == Decimal(4) * Decimal("0.75")  # 4 days of 0.75 GiB
    files = sum(path.stat().st_size for path in workspace_dir(project_dir).rglob("*") if path.is_file())
    assert files == GIB * 3 // 2
    assert usage.people["(project)"]["workspace_gib_days"] == Decimal(3) * Decimal("0.5") + Decimal(files) / GIB


def test_a_day_the_hub_missed_keeps_the_day_before(projects):
    settings = settings_of(projects)
    write(extracts_dir(settings.project_dir("alpha")) / "t.parquet", GIB)
    with projects.session() as session:
        sample_storage(session, settings, at("2026-11-01T08:00:00"), HOUR)
        sample_storage(session, settings, at("2026-11-05T08:00:00"), HOUR)  # down from the 2nd to the 4th
        by_day = storage_by_day(session, "alpha", "extracts", date(2026, 11, 1), date(2026, 11, 30))
        assert sorted(by_day) == [date(2026, 11, d) for d in range(1, 6)]  # nothing after the last measurement
        december = storage_by_day(session, "alpha", "extracts", date(2026, 12, 1), date(2026, 12, 2))
        assert december == {}  # nothing measured in December yet: nothing carried into it
