"""Project manifests: every refusal is one line naming the manifest file and the field at fault.

Each case below changes one thing in a valid manifest (``provisioning_support.manifest_spec``);
``test_the_unchanged_manifest_is_valid`` shows that the change alone causes the error.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from enclave.manifest import ManifestError, load_manifest
from enclave.settings import DEFAULT_CATALOG
from pseudonymizer.catalog import load_catalog

from .provisioning_support import DELETE, EXTRACT_TABLES, USERS, write_manifest

YESTERDAY = date.today() - timedelta(days=1)
SLUG = "cardio-study"


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(DEFAULT_CATALOG)


# (id, changes, file stem (None: the slug), field named, fragment of the problem)
ERRORS = [
    ("table-not-in-catalog", {"data.tables": ["IR_BEN_R", "ER_PRS_F", "ER_XYZ_F"]},
     None, "data.tables[2]", "'ER_XYZ_F' is not in the catalog"),
    ("column-not-in-catalog", {"data.columns": ["ER_PRS_F.EXE_SOI_DTD", "ER_PRS_F.EXE_XYZ"]},
     None, "data.columns[1]", "column 'EXE_XYZ' is not in table ER_PRS_F"),
    ("column-of-a-table-not-extracted", {"data.tables": ["ER_PRS_F"], "data.columns": ["IR_BEN_R.BEN_SEX_COD"]},
     None, "data.columns[0]", "table IR_BEN_R, which is not among the extracted tables"),
    ("direct-identifier-column", {"data.columns": ["IR_BEN_R.BEN_SEX_COD", "IR_BEN_R.BEN_NIR"]},
     None, "data.columns[1]", "IR_BEN_R.BEN_NIR is a direct identifier"),
    ("row-filter-bad-value", {"data.where": ["ER_PRS_F.EXE_SOI_DTD >= last-year"]},
     None, "data.where[0]", "'last-year' is not a valid date"),
    ("row-filter-unreadable", {"data.where": ["ER_PRS_F.EXE_SOI_DTD >= 2019-01-01", "ER_PRS_F.EXE_SOI_DTD ~ 2019"]},
     None, "data.where[1]", "cannot read the row filter"),
    ("row-filter-unknown-column", {"data.where": ["ER_PRS_F.EXE_XYZ >= 3"]},
     None, "data.where[0]", "column 'EXE_XYZ' is not in table ER_PRS_F"),
    ("row-filter-on-no-table", {"data.tables": ["IR_BEN_R"], "data.where": ["DCD_CIM_COD = I21"]},
     None, "data.where[0]", "applies to no extracted table"),
    ("committee-approval-missing", {"approvals.committee_reference": DELETE},
     None, "approvals.committee_reference", "missing"),
    ("committee-date-missing", {"approvals.committee_date": DELETE},
     None, "approvals.committee_date", "missing"),
    ("cnil-reference-without-date", {"approvals.cnil_date": DELETE},
     None, "approvals.cnil_date", "missing"),
    ("cnil-date-without-reference", {"approvals.cnil_reference": DELETE},
     None, "approvals.cnil_reference", "missing"),
    ("expiry-in-the-past", {"approvals.expires_on": YESTERDAY},
     None, "approvals.expires_on", f"{YESTERDAY} is in the past"),
    ("purpose-not-one-of-the-six", {"purpose": "marketing"},
     None, "purpose", "'marketing' is not one of the six legal purposes"),
    ("unknown-member", {"members": ["alice", "zoe"]},
     None, "members", "'zoe' is not a registered user"),
    ("unknown-principal-investigator", {"principal_investigator": "mallory"},
     None, "principal_investigator", "'mallory' is not a registered user"),
    ("bad-slug", {"slug": "Cardio_Study"},
     "Cardio_Study", "slug", "'Cardio_Study' is not a valid slug"),
    ("slug-differs-from-file-name", {},
     "cardio-study-2", "slug", "'cardio-study' differs from the file name cardio-study-2.toml"),
    ("unknown-top-level-field", {"colour": "blue"},
     None, "colour", "unknown field"),
    # A misspelt field must not fall back to its default: `colums` would give every column.
    ("unknown-field-in-data", {"data.colums": ["KI_CCI_R.BEN_IDT_ANO"]},
     None, "data.colums", "unknown field"),
    ("unknown-field-in-approvals", {"approvals.cnil_ref": "DR-2026-089"},
     None, "approvals.cnil_ref", "unknown field"),
    ("bad-mem-limit", {"resources.mem_limit": "lots"},
     None, "resources.mem_limit", "'lots' is not a memory size"),
    ("mem-limit-not-a-string", {"resources.mem_limit": 2},
     None, "resources.mem_limit", "2 is not a str"),
    ("unknown-organisation-type", {"billing.organisation_type": "charity"},
     None, "billing.organisation_type", "'charity' is not an organisation type"),
    ("budget-not-an-amount", {"billing.monthly_budget": "lots"},
     None, "billing.monthly_budget", "'lots' is not a positive amount"),
    ("budget-negative", {"billing.monthly_budget": "-5"},
     None, "billing.monthly_budget", "'-5' is not a positive amount"),
    ("unknown-field-in-billing", {"billing.budget": "5"},
     None, "billing.budget", "unknown field"),
    # The hint names the images there are: "'full' is not a notebook image — choose one of: "slim" (...); "stack" (...)".
    ("unknown-notebook-image", {"resources.image": "full"},
     None, "resources.image", "'full' is not a notebook image — choose one of: \"slim\""),
    ("notebook-image-not-a-string", {"resources.image": ["stack"]},
     None, "resources.image", "['stack'] is not a str"),
]


@pytest.mark.parametrize("changes, file_stem, field, fragment", [case[1:] for case in ERRORS],
                         ids=[case[0] for case in ERRORS])
def test_each_error_names_the_file_and_the_field(tmp_path, catalog, changes, file_stem, field, fragment):
    path = write_manifest(tmp_path, SLUG, changes, file_stem=file_stem)
    with pytest.raises(ManifestError) as caught:
        load_manifest(path, catalog, set(USERS))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {field}: "), message
    assert fragment in message
    assert caught.value.hint, "every error says what to do"


def test_the_unchanged_manifest_is_valid(tmp_path, catalog):
    path = write_manifest(tmp_path, SLUG)
    manifest = load_manifest(path, catalog, set(USERS))
    assert (manifest.slug, manifest.principal_investigator, manifest.members) == (SLUG, "alice", ("alice", "bob"))
    assert manifest.authorised and manifest.approvals.cnil_reference == "DR-2026-088"
    assert manifest.data == {"tables": list(EXTRACT_TABLES), "columns": {},
                             "where": ["ER_PRS_F.EXE_SOI_DTD >= 2019-01-01"], "key_version": 1}
    assert manifest.resources == {"mem_limit": "2G", "cpu_limit": 1.0, "pids_limit": 256,
                                  "workspace_quota": 10 * 2**30, "output_message_cap": 512 * 2**10,
                                  "image": "slim"}  # no output budget set: the seal's defaults apply
    assert manifest.billing == {"organisation_type": "academic"}  # no [billing]: the default


def test_billing_is_read_as_an_exact_amount(tmp_path, catalog):
    path = write_manifest(tmp_path, SLUG, {"billing.organisation_type": "public", "billing.monthly_budget": "1250.5"})
    assert load_manifest(path, catalog, set(USERS)).billing == {"organisation_type": "public", "monthly_budget": "1250.50"}


def test_the_notebook_image_is_chosen_in_the_manifest_and_kept_with_the_resources(tmp_path, catalog):
    path = write_manifest(tmp_path, SLUG, {"resources.image": "stack"})
    assert load_manifest(path, catalog, set(USERS)).resources["image"] == "stack"


def test_a_manifest_without_cnil_approval_loads_but_is_not_authorised(tmp_path, catalog):
    path = write_manifest(tmp_path, SLUG, {"approvals.cnil_reference": DELETE, "approvals.cnil_date": DELETE})
    manifest = load_manifest(path, catalog, set(USERS))
    assert not manifest.authorised


def test_columns_and_filters_are_read_per_table(tmp_path, catalog):
    path = write_manifest(tmp_path, SLUG, {"data.columns": ["KI_CCI_R.BEN_IDT_ANO, KI_CCI_R.DCD_CIM_COD"],
                                           "data.where": ["IR_BEN_R.BEN_SEX_COD = 2"]})
    manifest = load_manifest(path, catalog, set(USERS))
    assert manifest.data["columns"] == {"KI_CCI_R": ["BEN_IDT_ANO", "DCD_CIM_COD"]}
    assert manifest.data["where"] == ["IR_BEN_R.BEN_SEX_COD = 2"]


def test_missing_and_unreadable_manifests(tmp_path, catalog):
    with pytest.raises(ManifestError, match=f"^no manifest at {tmp_path / 'absent.toml'} — "):
        load_manifest(tmp_path / "absent.toml", catalog, set(USERS))
    broken = tmp_path / f"{SLUG}.toml"
    broken.write_text('slug = "cardio-study\n', encoding="utf-8")
    with pytest.raises(ManifestError, match=f"^{broken}: not valid TOML"):
        load_manifest(broken, catalog, set(USERS))


CLI_ERRORS = [
    ("direct-identifier-column", {"data.columns": ["IR_BEN_R.BEN_NOM"]}, "data.columns[0]",
     "IR_BEN_R.BEN_NOM is a direct identifier and is never extracted"),
    ("unknown-member", {"members": ["alice", "zoe"]}, "members", "'zoe' is not a registered user — add them first"),
]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("changes, field, fragment", [case[1:] for case in CLI_ERRORS],
                         ids=[case[0] for case in CLI_ERRORS])
def test_enclave_provision_refuses_a_bad_manifest_in_one_line(registry, enclave_project, new_slug, changes, field,
                                                              fragment):
    project = enclave_project(registry, new_slug("manifest"))
    project.write_manifest(changes)
    refused = project.provision(expect=2)
    assert refused.stderr.startswith(f"error: {project.manifest_path}: {field}: ")
    assert fragment in refused.stderr
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert project.row() is None and project.events() == []
    assert not project.project_dir.exists() and project.network() is None


def test_a_year_family_member_is_a_table_of_the_catalog(tmp_path, catalog):
    """T_MCO22C is the 2022 member of the family T_MCOaaC: a manifest may name one year only,
    as `enclave pseudonymize --tables` may; a name no family describes is still refused."""
    path = write_manifest(tmp_path, SLUG, {"data.tables": ["IR_BEN_R", "T_MCO22C"], "data.where": DELETE})
    assert load_manifest(path, catalog, set(USERS)).data["tables"] == ["IR_BEN_R", "T_MCO22C"]
    path = write_manifest(tmp_path, SLUG, {"data.tables": ["IR_BEN_R", "T_MCOXXC"], "data.where": DELETE})
    with pytest.raises(ManifestError, match="'T_MCOXXC' is not in the catalog"):
        load_manifest(path, catalog, set(USERS))


def test_output_budgets_are_kept_only_when_set_and_each_has_a_floor(tmp_path, catalog):
    path = write_manifest(tmp_path, SLUG, {"resources.output_budget_per_hour": "64K", "resources.output_budget_per_day": "1M"})
    resources = load_manifest(path, catalog, set(USERS)).resources
    assert (resources["output_budget_per_hour"], resources["output_budget_per_day"]) == (64 * 2**10, 2**20)
    path = write_manifest(tmp_path, SLUG, {"resources.output_budget_per_day": "1K"})
    with pytest.raises(ManifestError, match="output_budget_per_day: too small"):
        load_manifest(path, catalog, set(USERS))
