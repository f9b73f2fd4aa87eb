"""The public catalogue: every table and column with what a project receives, never a data value;
the HealthDCAT-AP export validates against the HealthDCAT-AP SHACL shapes published on PyPI."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pyshacl
import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, FOAF, RDF

from enclave.settings import DEFAULT_CATALOG
from portal.catalogue import load_catalogue
from portal.dcat import catalogue_graph, to_jsonld, to_turtle
from portal.errors import PortalError
from pseudonymizer.synth import generate

BASE = "https://hdh.test/services/portal/catalogue/"  # a deployment's ENCLAVE_PUBLIC_URL + the portal's prefix
# The HealthDCAT-AP shapes (DCAT-AP 3 constraints plus the health extension) as shipped by the
# dh-healthdcat package (installed by `make install`); not copied into this repository.
SHAPES_PACKAGE, SHAPES_FILE = "dh-healthdcat", "dh_healthdcat/validate/shapes/hdap-validator-sensitivity-shape.ttl"


@pytest.fixture(scope="module")
def shapes() -> Graph:
    try:
        path = Path(importlib.metadata.distribution(SHAPES_PACKAGE).locate_file(SHAPES_FILE))
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{SHAPES_PACKAGE} is not installed: run `make install` (it installs the HealthDCAT-AP shapes)",
                    pytrace=False)
    return Graph().parse(path, format="turtle")


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue(DEFAULT_CATALOG)


SH = "http://www.w3.org/ns/shacl#"


def _validate(data: Graph, shapes: Graph) -> tuple[bool, str, set[tuple[str, str]]]:
    """(conforms, report text, {(focus node, path)} of the violations)."""
    conforms, results, report = pyshacl.validate(data, shacl_graph=shapes, inference="none", advanced=True)
    violations = {(str(results.value(r, URIRef(SH + "focusNode"))), str(results.value(r, URIRef(SH + "resultPath"))))
                  for r in results.subjects(RDF.type, URIRef(SH + "ValidationResult"))}
    return conforms, report, violations


@pytest.mark.parametrize("fmt", ["turtle", "json-ld"])
def test_export_validates_against_the_healthdcat_ap_shapes(catalogue, shapes, fmt):
    text = to_turtle(catalogue, BASE) if fmt == "turtle" else to_jsonld(catalogue, BASE)
    graph = Graph().parse(data=text, format=fmt)
    conforms, report, _ = _validate(graph, shapes)
    assert conforms, report
    datasets = set(graph.subjects(RDF.type, DCAT.Dataset))
    assert datasets == {URIRef(BASE + f"datasets/{key}") for key in catalogue.datasets}
    assert len(set(graph.subjects(RDF.type, DCAT.Distribution))) == 2 * len(catalogue.tables)


@pytest.mark.parametrize("drop", [str(DCAT) + "keyword", str(DCAT) + "contactPoint",
                                  "http://healthdataportal.eu/ns/health#hdab"])
def test_the_shapes_catch_a_dataset_missing_a_mandatory_property(catalogue, shapes, drop):
    graph = catalogue_graph(catalogue, BASE)
    dataset = BASE + "datasets/dcir"
    graph.remove((URIRef(dataset), URIRef(drop), None))
    conforms, _, violations = _validate(graph, shapes)
    assert not conforms and violations == {(dataset, drop)}


def test_the_export_names_this_deployment_as_homepage_and_the_catalogue_calls_nothing_identifying(catalogue):
    graph = catalogue_graph(catalogue, BASE)
    assert graph.value(URIRef(BASE), FOAF.homepage) == URIRef(BASE)  # the catalogue's own public page
    assert graph.value(URIRef(BASE + "agents/platform"), FOAF.homepage) == URIRef("https://hdh.test/")
    assert graph.value(URIRef(BASE + "agents/cnam"), FOAF.homepage) == URIRef("https://www.assurance-maladie.ameli.fr/")
    assert not [str(o) for o in graph.objects(None, FOAF.homepage) if "example." in str(o)]  # no placeholder
    assert not [t.title for t in catalogue.tables.values() if "identifying" in t.title.lower()]


def test_the_jsonld_export_is_plain_json_with_a_context(catalogue):
    document = json.loads(to_jsonld(catalogue, BASE))
    assert "@context" in document and document["@context"]["dcat"] == str(DCAT)


def test_every_table_belongs_to_one_dataset(tmp_path):
    broken = tmp_path / "datasets.toml"
    text = (Path(__file__).resolve().parents[2] / "portal" / "datasets.toml").read_text()
    broken.write_text(text.replace('tables = ["KI_CCI_R"]', 'tables = ["T_MCOaaB"]'))
    with pytest.raises(PortalError, match="table T_MCOaaB is in datasets 'pmsi-mco' and 'causes-of-death'"):
        load_catalogue(DEFAULT_CATALOG, broken)


def test_table_pages_list_every_column_with_what_a_project_receives(portal_server, catalogue):
    for table in catalogue.tables.values():
        page = portal_server.page(None, f"catalogue/tables/{table.name}")
        assert page.status_code == 200
        for column in table.columns:
            assert f"<td>{column.name}</td>" in page.text
        if any(c.role == "direct" for c in table.columns):
            assert "never: dropped from every extract" in page.text
    page = portal_server.page(None, "catalogue/tables/T_MCOaaC").text
    assert "IR_BEN_R" in page and "T_MCOaaB" in page  # its links
    assert "coarsened: age coarsened to a 5-year band" in portal_server.page(None, "catalogue/tables/T_MCOaaB").text
    for key in catalogue.datasets:
        assert portal_server.page(None, f"catalogue/datasets/{key}").status_code == 200
    assert portal_server.page(None, "catalogue/tables/NOPE").status_code == 404


def test_the_catalogue_never_shows_a_value(portal_server, tmp_path):
    """Real identifying sources beside the catalogue: no value of theirs reaches any public page or export."""
    sources = tmp_path / "sources"
    generate(sources, people=300, seed=7, progress=False)
    catalogue = load_catalogue(DEFAULT_CATALOG, sources_dir=sources)
    portal_server.office.catalogue = catalogue
    values: set[str] = set()
    for table in catalogue.tables.values():
        data = pq.read_table(sources / f"{table.name}.parquet")
        for column in table.columns:
            if column.type == "string":
                values |= {v for v in data.column(column.name).to_pylist() if isinstance(v, str) and len(v) >= 6
                           and not re.fullmatch(r"X+", v)}  # "XXX...": no one, and named in notes
    assert len(values) > 1000  # names, NIRs, addresses, phones, e-mails, pseudonyms, postcodes...
    assert all(t.byte_size for t in catalogue.tables.values())  # the one thing read about a source: its size
    pages = ["", "catalogue", "catalogue.ttl", "catalogue.jsonld", "directory"]
    pages += [f"catalogue/datasets/{k}" for k in catalogue.datasets]
    pages += [f"catalogue/tables/{t}" for t in catalogue.tables]
    text = "\n".join(portal_server.page(None, path).text for path in pages)
    leaked = sorted(v for v in values if v in text)
    assert leaked == [], leaked[:10]
