"""Fixtures of the scale tests: synthetic sources, the shared SNDS tables, one Spark session.

The Spark session (one JVM for every Spark test) runs with the extraction's own configuration
(:data:`pseudonymizer.distributed.SPARK_CONF`) made as talkative as it gets: log level INFO into a
file and the event log on, so that the key tests can search everything Spark writes."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest

from pseudonymizer.engines import EngineSpec
from pseudonymizer.synth import generate

from ..conftest import REPO, SHARED_SNDS

SYNTH_CATALOG = REPO / "pseudonymizer" / "catalogs" / "synthetic" / "catalog.toml"
SNDS_CATALOG = REPO / "pseudonymizer" / "catalogs" / "snds" / "catalog.toml"
SNDS_TABLES = ["IR_BEN_R", "ER_PRS_F", "T_MCOaaC", "KI_CCI_R", "T_MCOaaB"]
PEOPLE = 3000


@pytest.fixture(scope="session")
def synth_sources(tmp_path_factory):
    out = tmp_path_factory.mktemp("scale-sources")
    generate(out, people=PEOPLE, seed=11, progress=False)
    care = out / "ER_PRS_F.parquet"  # many row groups, of a size no batch size divides: slices start inside them
    pq.write_table(pq.read_table(care), care, row_group_size=1234)
    return out


@pytest.fixture(scope="session")
def snds_sources(tmp_path_factory):
    """A private copy of the shared synthetic SNDS schemas and CSV tables (the shared folder is read-only)."""
    if not (SHARED_SNDS / "schemas").is_dir():
        pytest.skip(f"the shared synthetic SNDS folder is absent ({SHARED_SNDS})")
    out = tmp_path_factory.mktemp("snds") / "schemas"
    shutil.copytree(SHARED_SNDS / "schemas", out)
    return out


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One local[2] Spark session for the whole test session: (session, its log file, its event log folder)."""
    pytest.importorskip("pyspark")
    from pseudonymizer.distributed import spark_session

    where = tmp_path_factory.mktemp("spark")
    log, events = where / "spark.log", where / "events"
    events.mkdir()
    config = where / "log4j2.properties"
    config.write_text(
        "rootLogger.level = info\nrootLogger.appenderRef.file.ref = file\n"
        "appender.file.type = File\nappender.file.name = file\n"
        f"appender.file.fileName = {log}\n"
        "appender.file.layout.type = PatternLayout\nappender.file.layout.pattern = %d %p %c: %m%n\n"
    )
    session = spark_session(EngineSpec("spark", workers=2), {
        "spark.eventLog.enabled": "true", "spark.eventLog.dir": f"file://{events}",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{config}",
    })
    session.sparkContext.setLogLevel("INFO")
    yield session, log, events
    session.stop()
