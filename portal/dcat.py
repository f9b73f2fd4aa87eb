"""The catalogue in HealthDCAT-AP (the DCAT-AP 3 profile of the EHDS), as Turtle or JSON-LD.

One ``dcat:Catalog``; one ``dcat:Dataset`` per dataset of ``datasets.toml``; one
``dcat:Distribution`` per table — the pseudonymised extract an approved project receives (Parquet,
inside the enclave, on request) — whose structure is a ``csvw:Table`` listing each column with
what a project receives (dropped, pseudonymised, coarsened, kept). No data value is in the graph.

IRIs are under ``base`` (the catalogue's public URL), so a harvester can follow them to the pages.
"""

from __future__ import annotations

from urllib.parse import urljoin

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD

from enclave.models import Purpose

from .catalogue import Agent, Catalogue, Dataset, TableEntry

ADMS = Namespace("http://www.w3.org/ns/adms#")
CSVW = Namespace("http://www.w3.org/ns/csvw#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
DPV = Namespace("https://w3id.org/dpv#")
HEALTHDCATAP = Namespace("http://healthdataportal.eu/ns/health#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
EU = "http://publications.europa.eu/resource/authority/"

NON_PUBLIC = URIRef(EU + "access-right/NON_PUBLIC")  # access only through an authorised project
PARQUET = URIRef(EU + "file-type/PARQUET")
HTML = URIRef(EU + "file-type/HTML")
FRANCE = URIRef(EU + "country/FRA")
PERSONAL_DATA = URIRef(EU + "dataset-type/PERSONAL_DATA")
RIGHTS = ("Pseudonymised extracts are processed only inside the project's enclave, for the authorised purpose; "
          "outputs leave only through the egress gate after review.")
CSVW_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean", "date": "date",
              "datetime": "datetime", "year": "gYear", "yearmonth": "gYearMonth"}


def catalogue_graph(catalogue: Catalogue, base: str) -> Graph:
    """The whole catalogue as an rdflib graph; ``base`` is the catalogue's public URL, ending in ``/``."""
    base = base.rstrip("/") + "/"
    g = Graph(bind_namespaces="core")
    for prefix, ns in (("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("adms", ADMS), ("csvw", CSVW),
                       ("dcatap", DCATAP), ("dpv", DPV), ("healthdcatap", HEALTHDCATAP), ("vcard", VCARD),
                       ("skos", SKOS)):
        g.bind(prefix, ns)
    root = URIRef(base)
    legislation = URIRef(catalogue.applicable_legislation)
    g.add((root, RDF.type, DCAT.Catalog))
    g.add((root, DCTERMS.title, Literal(catalogue.title, lang="en")))
    g.add((root, DCTERMS.description, Literal(catalogue.description, lang="en")))
    g.add((root, DCTERMS.publisher, _agent(g, base, catalogue.publisher)))
    g.add((root, DCATAP.applicableLegislation, legislation))
    g.add((root, DCTERMS.language, URIRef(catalogue.language)))
    g.add((root, FOAF.homepage, URIRef(catalogue.homepage or base)))
    purposes = [_purpose(g, base, purpose) for purpose in Purpose]
    contact = _contact(g, base, catalogue.publisher)
    for dataset in catalogue.datasets.values():
        node = _dataset(g, base, catalogue, dataset, legislation, contact, purposes)
        g.add((root, DCAT.dataset, node))
    return g


def to_turtle(catalogue: Catalogue, base: str) -> str:
    return catalogue_graph(catalogue, base).serialize(format="turtle")


def to_jsonld(catalogue: Catalogue, base: str) -> str:
    g = catalogue_graph(catalogue, base)
    context = {prefix: str(ns) for prefix, ns in g.namespaces() if prefix}
    return g.serialize(format="json-ld", context=context, indent=1)


def _agent(g: Graph, base: str, agent: Agent) -> URIRef:
    node = URIRef(f"{base}agents/{agent.key}")
    if (node, RDF.type, FOAF.Agent) in g:
        return node
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, FOAF.name, Literal(agent.name)))
    g.add((node, FOAF.homepage, URIRef(_homepage(base, agent))))
    g.add((node, FOAF.mbox, URIRef(f"mailto:{agent.email}")))
    g.add((node, HEALTHDCATAP.publisherType, URIRef(agent.publisher_type)))
    g.add((node, HEALTHDCATAP.publisherNote, Literal(agent.note, lang="en")))
    g.add((node, HEALTHDCATAP.trustedDataHolder, Literal(agent.trusted_data_holder)))
    return node


def _homepage(base: str, agent: Agent) -> str:
    """The agent's homepage; one left out in the datasets file is this deployment's (the hub's public root)."""
    return agent.homepage or urljoin(base, "/")


def _contact(g: Graph, base: str, agent: Agent) -> URIRef:
    node = URIRef(f"{base}agents/{agent.key}#contact")
    g.add((node, RDF.type, VCARD.Kind))
    g.add((node, VCARD.fn, Literal(agent.name)))
    g.add((node, VCARD.hasEmail, URIRef(f"mailto:{agent.email}")))
    g.add((node, VCARD.hasURL, URIRef(_homepage(base, agent))))
    return node


def _purpose(g: Graph, base: str, purpose: Purpose) -> URIRef:
    node = URIRef(f"{base}purposes/{purpose.value}")
    g.add((node, RDF.type, DPV.Purpose))
    g.add((node, SKOS.prefLabel, Literal(purpose.label_en, lang="en")))
    g.add((node, SKOS.prefLabel, Literal(purpose.label_fr, lang="fr")))
    return node


def _dataset(g: Graph, base: str, catalogue: Catalogue, dataset: Dataset, legislation: URIRef, contact: URIRef,
             purposes: list[URIRef]) -> URIRef:
    node = URIRef(f"{base}datasets/{dataset.key}")
    g.add((node, RDF.type, DCAT.Dataset))
    g.add((node, DCTERMS.identifier, Literal(str(node), datatype=XSD.anyURI)))
    g.add((node, DCTERMS.title, Literal(dataset.title, lang="en")))
    g.add((node, DCTERMS.description, Literal(dataset.description, lang="en")))
    g.add((node, DCAT.landingPage, node))
    g.add((node, DCTERMS.accessRights, NON_PUBLIC))
    g.add((node, DCATAP.applicableLegislation, legislation))
    g.add((node, DCAT.contactPoint, contact))
    g.add((node, DCTERMS.spatial, FRANCE))
    g.add((node, DCTERMS.type, PERSONAL_DATA))
    g.add((node, DCTERMS.publisher, _agent(g, base, dataset.producer)))
    g.add((node, HEALTHDCATAP.hdab, _agent(g, base, catalogue.publisher)))
    provenance = BNode()
    g.add((provenance, RDF.type, DCTERMS.ProvenanceStatement))
    g.add((provenance, RDFS.label, Literal(f"Produced by {dataset.producer.name}; pseudonymised for each approved "
                                           "project by the platform (direct identifiers dropped, identifiers "
                                           "replaced by per-project keyed pseudonyms, quasi-identifiers coarsened).",
                                           lang="en")))
    g.add((node, DCTERMS.provenance, provenance))
    for keyword in dataset.keywords:
        g.add((node, DCAT.keyword, Literal(keyword, lang="en")))
    for values, predicate in ((dataset.themes, DCAT.theme), (dataset.health_categories, HEALTHDCATAP.healthCategory),
                              (dataset.health_themes, HEALTHDCATAP.healthTheme)):
        for value in values:
            g.add((node, predicate, URIRef(value)))
    for purpose in purposes:
        g.add((node, DPV.hasPurpose, purpose))
    if dataset.temporal_start:
        period = BNode()
        g.add((period, RDF.type, DCTERMS.PeriodOfTime))
        g.add((period, DCAT.startDate, Literal(dataset.temporal_start)))
        g.add((node, DCTERMS.temporal, period))
    for name in dataset.tables:
        table = catalogue.tables[name]
        g.add((node, DCAT.distribution, _distribution(g, base, table, legislation)))
        g.add((node, ADMS.sample, _description_page(g, base, table)))
    return node


def _table_iri(base: str, table: TableEntry) -> str:
    return f"{base}tables/{table.name}"


def _distribution(g: Graph, base: str, table: TableEntry, legislation: URIRef) -> URIRef:
    node = URIRef(_table_iri(base, table) + "#extract")
    g.add((node, RDF.type, DCAT.Distribution))
    g.add((node, DCTERMS.title, Literal(f"{table.name}: pseudonymised extract", lang="en")))
    g.add((node, DCTERMS.description, Literal(f"{table.title}. Delivered as Parquet inside an approved project's "
                                              "enclave only; request access through the portal.", lang="en")))
    g.add((node, DCAT.accessURL, URIRef(f"{base.removesuffix('catalogue/')}requests/new")))
    g.add((node, DCATAP.applicableLegislation, legislation))
    g.add((node, DCTERMS.format, PARQUET))
    g.add((node, DCAT.byteSize, Literal(table.byte_size or 0, datatype=XSD.nonNegativeInteger)))
    rights = BNode()
    g.add((rights, RDF.type, DCTERMS.RightsStatement))
    g.add((rights, RDFS.label, Literal(RIGHTS, lang="en")))
    g.add((node, DCTERMS.rights, rights))
    g.add((node, DCTERMS.conformsTo, _csvw_table(g, base, table)))
    return node


def _description_page(g: Graph, base: str, table: TableEntry) -> URIRef:
    """The table's public page: structure and treatments only (the sample a catalogue may show)."""
    node = URIRef(_table_iri(base, table) + "#description")
    g.add((node, RDF.type, DCAT.Distribution))
    g.add((node, DCTERMS.title, Literal(f"{table.name}: description of the columns (no data)", lang="en")))
    g.add((node, DCAT.accessURL, URIRef(_table_iri(base, table))))
    g.add((node, DCTERMS.format, HTML))
    return node


def _csvw_table(g: Graph, base: str, table: TableEntry) -> URIRef:
    node = URIRef(_table_iri(base, table) + "#schema")
    g.add((node, RDF.type, CSVW.Table))
    g.add((node, CSVW.url, URIRef(_table_iri(base, table))))
    g.add((node, DCTERMS.title, Literal(table.title or table.name, lang="en")))
    for column in table.columns:
        if not column.requestable:
            continue  # a direct identifier never reaches a project: it is not part of the extract
        item = URIRef(f"{_table_iri(base, table)}#column-{column.name}")
        g.add((item, RDF.type, CSVW.Column))
        g.add((item, CSVW.name, Literal(column.name)))
        g.add((item, CSVW.titles, Literal(column.description or column.name, lang="en")))
        g.add((item, CSVW.datatype, Literal(CSVW_TYPES.get(column.type, "string"))))
        g.add((item, DCTERMS.description, Literal(f"What a project receives: {column.received}", lang="en")))
        g.add((node, CSVW.column, item))
    return node
