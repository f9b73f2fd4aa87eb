"""What `enclave catalog init` knows about SNDS columns: roles by name, linkage domains, fixes.

Each rule names columns (exactly, or by a pattern) and the role-file entry they get, with the
reason as its note. A column no rule names is an attribute; if its name or description looks like
an identifier, the proposal marks it for a human to review.
"""

from __future__ import annotations

import re

# Linkage domains of the SNDS. nir = true: derived from the NIR, so a fictive code (BEN_CDI_NIR,
# NIR_RET) makes the id stand for no one, or for many people.
DOMAINS = {
    "BEN_NIR_PSA": {
        "nir": True,
        "placeholders": ["XXXXXXXXXXXXXXXXX", "xxxxxxxxxxxxxxxxx"],  # PMSI NIR_ANO_17 when chaining failed
        "description": "beneficiary key built from the rights-holder's NIR, birth date and sex (also NIR_ANO_17 in the PMSI)",
    },
    "BEN_NIR_ANO": {"nir": True, "description": "pseudonym of the person's own NIR"},
    "BEN_NIR_IDT": {"nir": True, "description": "anonymous NIR of a beneficiary of the EGB sample"},
    "BEN_IDT_ANO": {"nir": False, "description": "person key of the SNDS, unique per person, fictive NIRs included"},
    "BEN_RAT_ANO": {"nir": False, "description": "anonymised work-accident pension number"},
    "DCD_IDT_ENC": {"nir": False, "description": "encoded death-certificate id (CépiDc)"},
    "ID_CARTO": {"nir": False, "description": "beneficiary id of the disease cartography"},
    "PFS_PFS_NUM": {"nir": False, "description": "health professional number (AM/ADELI)"},
    "PFS_NUMC": {"nir": False, "description": "health professional number, already anonymised (DCIRS)"},
    "RPPS": {"nir": False, "description": "RPPS number of a health professional"},
    "RPPS_NUMC": {"nir": False, "description": "RPPS number, already anonymised (DCIRS)"},
    "TRS_NOMC": {"nir": False, "description": "name of an ambulance driver or attendant, already anonymised"},
    "TRS_VEH_NUMC": {"nir": False, "description": "vehicle registration, already anonymised"},
    "RSA_NUM": {"nir": False, "description": "index of an MCO stay summary in its hospital's PMSI file"},
    "RHAD_NUM": {"nir": False, "description": "sequential number of an HAD stay in its hospital's file"},
    "RHA_NUM": {"nir": False, "description": "sequential number of an SSR stay in its hospital's file"},
    "RIP_NUM": {"nir": False, "description": "sequential number of a psychiatric stay (RIM-P)"},
    "SEJ_IDT": {"nir": False, "description": "stay identifier (RIM-P)"},
    "SEQ_NUM": {"nir": False, "description": "sequential number of an outpatient visit or sequence in its hospital's file"},
    "FAC_NUM": {"nir": False, "description": "sequential number of a hospital invoice"},
    "DAT_HOS": {"nir": False, "description": "anonymous hospitalisation id (encrypted date)"},
    "ID_MAM_ENF": {"nir": False, "description": "mother-child chaining number"},
}

_STAY = "index in the hospital's own file: the hospital keeps its correspondence with the patient, so it is pseudonymised; one domain keeps the joins with ETA_NUM"
_FINESS = "FINESS number of an establishment: an institution, not a person; read as string (alphanumeric: 2A/2B Corsica)"
_COMMUNE = "commune code: no rule coarsens it to the department without the department column, and department + commune is a strong quasi-identifier; dropped"
_FREE_TEXT = "free text that can hold names, addresses or rare occupations: dropped"

EXACT: dict[str, dict] = {
    **{n: {"role": "linkage", "domain": "BEN_NIR_PSA", "note": "beneficiary key; with BEN_RNG_GEM keys a person"} for n in ("BEN_NIR_PSA",)},
    "NIR_ANO_17": {"role": "linkage", "domain": "BEN_NIR_PSA", "note": "the PMSI's anonymous patient number: the same value as BEN_NIR_PSA (foreign key to IR_BEN_R), hence the same domain"},
    "NIR_ANO_MAM": {"role": "linkage", "domain": "BEN_NIR_PSA", "note": "the mother's anonymous number on a newborn's stay: same domain so mother and child link; leave it out of --columns for projects not authorised to relate them"},
    "BEN_NIR_ANO": {"role": "linkage", "domain": "BEN_NIR_ANO", "note": "pseudonym of the person's own NIR"},
    "ASS_NIR_ANO": {"role": "linkage", "domain": "BEN_NIR_ANO", "note": "pseudonymised NIR of the person who opens the rights: the same kind of value as BEN_NIR_ANO"},
    "BEN_NIR_IDT": {"role": "linkage", "domain": "BEN_NIR_IDT", "note": "anonymous NIR of the EGB sample"},
    "BEN_IDT_ANO": {"role": "linkage", "domain": "BEN_IDT_ANO", "note": "person key (not NIR-derived: fictive NIR codes do not concern it)"},
    "BEN_RAT_ANO": {"role": "linkage", "domain": "BEN_RAT_ANO", "note": "anonymised pension number: pseudonymised"},
    "DCD_IDT_ENC": {"role": "linkage", "domain": "DCD_IDT_ENC", "note": "encoded death-certificate id, held outside the SNDS: pseudonymised; its domain joins KI_ECD_R"},
    "ID_CARTO": {"role": "linkage", "domain": "ID_CARTO", "note": "cartography beneficiary id: pseudonymised"},
    **{n: {"role": "linkage", "domain": "PFS_PFS_NUM", "note": "health professional number, public in directories: pseudonymised; one domain for executor, prescriber and GP"}
       for n in ("PFS_EXE_NUM", "PFS_PRE_NUM", "PRS_MTT_NUM", "PFS_PFS_NUM", "MTT_PFS_NUM", "STA_PFS_NUM", "FIS_PFS_NUM")},
    **{n: {"role": "linkage", "domain": "PFS_NUMC", "note": "professional number anonymised by the source: pseudonymised again, per project"}
       for n in ("PFS_EXE_NUMC", "PFS_PRE_NUMC", "PRS_MTT_NUMC")},
    "PSP_PPS_NUM": {"role": "linkage", "domain": "RPPS", "note": "RPPS number of a salaried prescriber, public in the RPPS directory: pseudonymised"},
    "PSP_PPS_NUMC": {"role": "linkage", "domain": "RPPS_NUMC", "note": "RPPS number anonymised by the source: pseudonymised again, per project"},
    "TRS_ACP_NOMC": {"role": "linkage", "domain": "TRS_NOMC", "note": "anonymised name of a person: pseudonymised again, per project"},
    "TRS_CDR_NOMC": {"role": "linkage", "domain": "TRS_NOMC", "note": "anonymised name of a person: pseudonymised again, per project"},
    "TRS_VEH_NUMC": {"role": "linkage", "domain": "TRS_VEH_NUMC", "note": "anonymised vehicle registration: pseudonymised again, per project"},
    **{n: {"role": "linkage", "domain": n, "note": _STAY, "type": "string"} for n in ("RSA_NUM", "RHAD_NUM", "RHA_NUM", "RIP_NUM", "SEJ_IDT", "SEQ_NUM", "FAC_NUM")},
    "IPP_IDV_NUM": {"role": "direct", "note": "NIR of a health professional: dropped"},
    "TRS_ACP_NOM": {"role": "direct", "note": "name of a person: dropped"},
    "TRS_CDR_NOM": {"role": "direct", "note": "name of a person: dropped"},
    "TRS_VEH_NUM": {"role": "direct", "note": "vehicle registration number: dropped"},
    "NUM_DAT_AT": {"role": "direct", "note": "work-accident number (or accident date), held by the insurer and the employer: dropped"},
    "SEJ_NUM": {"role": "direct", "note": "the hospital's administrative stay number: the hospital can look the patient up with it; dropped"},
    "ENT_NUM": {"role": "direct", "note": "the hospital's admission number: dropped, as SEJ_NUM"},
    "AGE_JOU": {"role": "direct", "note": "age in days (infants): with the admission date it gives the date of birth; dropped"},
    "IJR_EMP_NUM": {"role": "direct", "note": "employer number: names a small employer, hence its staff; dropped"},
    "LOT_SER_NUM": {"role": "direct", "note": "serial number of a device: may single out its one patient; dropped"},
    "PRS_ANO_ORI": {"role": "direct", "note": "original value of a rejected field: can be any identifier; dropped"},
    "PRS_ANO_DEF": {"role": "direct", "note": "replacement value of a rejected field: can be any identifier; dropped"},
    **{n: {"role": "direct", "note": _FREE_TEXT} for n in ("DCD_LIE_LIB", "MER_PFG_LIB", "PER_PFG_LIB", "PRS_ANO_COM")},
    **{n: {"role": "direct", "note": _COMMUNE} for n in ("BEN_RES_COM", "DCD_COM_COD")},
    "PFS_LIB_COM": {"role": "direct", "note": "name of the commune where a professional practises: with the specialty it names the professional; dropped"},
    "PFS_EXC_COM": {"role": "quasi", "rule": "department", "note": "commune of a professional's practice: coarsened to its department"},
    "BEN_DCD_DTE": {"role": "quasi", "rule": "month", "note": "exact date of death: coarsened to its month (the month is public in BEN_DCD_AME)"},
    "BEN_DCD_DTD": {"role": "quasi", "rule": "month", "note": "exact date of death: coarsened to its month"},
    "AGE_ANN": {"role": "quasi", "rule": "age_band5", "note": "age in years: 5-year bands, 90+ top-coded"},
    "BDI_COD": {"role": "quasi", "rule": "department", "note": "PMSI residence code (postcode-like): coarsened to its department (also in BDI_DEP)"},
    "BEN_CDI_NIR": {"role": "attribute", "note": "NIR quality code (IR_NIR_V), the fictive-id flag: kept so researchers see why an id links no one"},
    "BEN_RNG_GEM": {"role": "attribute", "note": "birth rank (twins), part of the beneficiary key with BEN_NIR_PSA"},
    "BEN_NAI_ANN": {"role": "attribute", "note": "year of birth: the SNDS never holds the exact birth date"},
    "BEN_NAI_MOI": {"role": "attribute", "note": "month of birth (month number only)"},
    "IDE_BDI_COD": {"role": "attribute", "note": "postcode of an establishment: an institution"},
    "IDE_INS_COM": {"role": "attribute", "note": "commune of an establishment: an institution"},
}

# (pattern over the upper-cased name, entry); the first that matches applies.
PATTERNS: list[tuple[re.Pattern, dict]] = [
    (re.compile(r"^(ETA_NUM\w*|ETB_\w*FIN|IDE_ETA_NU\w*|PFS_FIN_NUM|IDE_NUM_(ANC|NOU)|IDE_GES_NUM)$"), {"role": "attribute", "note": _FINESS, "type": "string"}),
    (re.compile(r"^\w+_RET$"), {"role": "attribute", "note": "PMSI validity code (0 = valid): read as string, some exports hold 9 ('not applicable')", "type": "string"}),
    (re.compile(r"^IDE_(ADR_CPL|VOI_\w+|TEL_NU\d|FAX_NUM|INT_ADR|RSD_LIB|CPT_RSC|ETA_NOM|SRT_NUM|CPA_NUM|CRA_NUM)$"), {"role": "attribute", "note": "establishment directory (BE_IDE_R): an institution's public details"}),
    (re.compile(r"^(NUM_FAC)$"), {"role": "linkage", "domain": "FAC_NUM", "note": _STAY, "type": "string"}),
    (re.compile(r"^(DAT_HOS)$"), {"role": "linkage", "domain": "DAT_HOS", "note": "anonymous hospitalisation id (encrypted date): pseudonymised", "type": "string"}),
    (re.compile(r"^(ID_MAM_ENF)$"), {"role": "linkage", "domain": "ID_MAM_ENF", "note": "mother-child chaining number: pseudonymised; leave it out for projects not authorised to relate them", "type": "string"}),
    (re.compile(r"^(PFS_COD_POS|TRS_ARR_CDP|TRS_DEP_CDP)$"), {"role": "quasi", "rule": "department", "note": "postcode (a transport's departure is often the patient's home): coarsened to its department"}),
    (re.compile(r"^(\w+_ORD_NUM|\w+_SEQ_NUM|ORD_NUM|SSEQ_NUM|RHS_NUM|SEQ_SEJ|SEQ_RUM|RUM_SEQ|UM_ORD_NUM|PRS_ENT_NUM|CER_LIG_NUM|CER_VER_NUM|DGN_ASS_NUM|UCD_LGN_NUM|GRS_ORD_NUM|MES_ORD_NUM|\w+_VER|FOR_NUM\w*|VID_HOSP_FOR|FORMAT|RSS_NUM|RAPSS_NUM|\w+_CTL|FLX_EMT_NUM|FLX_EMT_ORD|DCT_ORD_NUM)$"),
     {"role": "attribute", "note": "order, sequence, version or control number within a record: identifies no one"}),
    (re.compile(r"^(ASS_DGN_\d+|DENT_NUM_\d+|GHS_NUM|ETE_GHS_NUM|GHM_NUM|GHT_NUM|GMT_NUM|\w+_GHPC|GHS_SUP_COD|GEN_NUM|INNOV_NUM|IMB_ALD_NUM|IMB_MLP_TAB|MED_NCL_IDT|SEC_NUM|NBR_\w+|LAI_\w+|MES_REP_TPS|PHA_MOD_PRN|SCO_DEP_COM|BEN_QAF_COD|PSP_SVI_PPS|\w+_IDT_TOP|BEN_IDT_MAJ|MOIS?|ANN_TRT|ECD_CAU_LIB|LOT_PHA_NUM)$"),
     {"role": "attribute", "note": "a code, count, period or flag: not an identifier"}),
    (re.compile(r"^(ORG_\w+|CAI_\w+|CENT_GES|\w+_CAI_NUM|STA_CTR_NUM|T733_CTR_NUM|CPT_MIR_NUM|CPT_TRM_RGM|MUT_ORG|ORB_BSE_NUM|ORL_BSE_NUM|DCT_EMT_IDT|TIP_SIR_NUM|ETB_NUM|ETE_ETA_TRF)$"),
     {"role": "attribute", "note": "an organisation (insurance fund, establishment, manufacturer), not a person"}),
]

# Table Schema types the data contradict (found by `enclave catalog check` on the public synthetic SNDS).
TYPE_FIXES = {
    "ARO_THE_TAU": ("number", "a rate with decimals (40.00): the Table Schema says integer"),
    "GES_GRG_COD": ("string", "an alphanumeric code (MB1): the Table Schema says integer"),
    "SC1": ("string", "a hierarchical code (1_5): the Table Schema says integer"),
    "SC2": ("string", "a hierarchical code (1_1_4): the Table Schema says integer"),
    "TOP_GEN": ("string", "a letter code (G, S): the Table Schema says integer"),
}

# Looks like an identifier or free text: a proposal a human must review.
SUSPECT_NAME = re.compile(r"(NOM|PRN|ADR|TEL|MEL|MAIL|NIR|IDT|_ANO$|_LIB$|COM$|_CP$|CPO|VOI|_NUMC?$|_ENC$)")
SUSPECT_TEXT = re.compile(r"(nom |prénom|adresse|téléphone|courriel|identifiant|matricule|commune|code postal|libellé|n° |numéro)", re.I)

# Columns whose codes say whether some of a row's ids are real, and the columns each speaks about:
# BEN_CDI_NIR qualifies the NIR the beneficiary's keys are built from; PMSI NIR_RET the patient's own
# NIR_ANO_17, never the mother's NIR_ANO_MAM on a newborn's stay (a third of mother-child links would go).
# no_one: every other code of the flag's nomenclature (IR_NIR_V: fictive, provisional, unknown 99, NN
# "sans objet"), so that a value no one declared stops the run instead of silently cutting links.
# NIR_RET is two-valued (0/1, True/False): its other value is implied.
FICTIVE_FLAGS = {
    "BEN_CDI_NIR": {"valid": ["00"], "no_one": ["01", "03", "04", "05", "06", "08", "09", "11", "12", "13", "14", "15", "99", "NN"],
                    "applies_to": ["BEN_NIR_PSA", "BEN_NIR_ANO", "ASS_NIR_ANO"]},
    "NIR_RET": {"valid": ["0"], "applies_to": ["NIR_ANO_17"]},
}
# Columns real exports carry that the public Table Schemas lack: left out of extracts, and listed.
EXTRAS = {"ER_PRS_F": ["PRS_PPU_SEC", "DCT_FOR_AMO"]}
# Products whose tables carry PMSI validity codes: a usage note for researchers.
RET_NOTE = (
    "PMSI validity codes (*_RET: NIR_RET, NAI_RET, SEX_RET, SEJ_RET, FHO_RET, PMS_RET, DAT_RET...): "
    "a stay links to a patient reliably only when all are 0; a stay whose NIR_RET is not 0 has an id that is no one."
)


def proposal(name: str, description: str) -> tuple[dict, str]:
    """(role-file entry, review reason or '') for a column."""
    key = name.upper()
    entry, why = _by_name(key, description)
    if key in TYPE_FIXES:
        ftype, note = TYPE_FIXES[key]
        entry = {**entry, "type": ftype, "note": "; ".join(filter(None, [entry.get("note", ""), note]))}
    return entry, why


def _by_name(key: str, description: str) -> tuple[dict, str]:
    if key in EXACT:
        return dict(EXACT[key]), ""
    for pattern, entry in PATTERNS:
        if pattern.match(key):
            return dict(entry), ""
    if SUSPECT_NAME.search(key) or SUSPECT_TEXT.search(description or ""):
        return {"role": "attribute"}, "name or description looks like an identifier or free text"
    return {"role": "attribute"}, ""
