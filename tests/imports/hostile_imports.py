"""Plain functions writing the files the airlock must stop (and the ones it must let in) under a folder."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import zipfile
from pathlib import Path

from .vba_project import vba_project_bin

# The EICAR anti-virus test file (harmless by design), assembled so that this source is not it.
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()
VALID_NIR = "185057800608491"


def clean_csv(folder: Path, name: str = "reference.csv") -> Path:
    path = folder / name
    path.write_text("code,label\nA01,cholera\nA02,other salmonella infections\n")
    return path


def zip_bomb(folder: Path, unpacked: int = 64 << 20) -> Path:
    """A zip of one member of zeros, about a thousand times smaller than what it unpacks to."""
    path = folder / "cohort.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("cohort.csv", "w") as member:
            block = b"0" * (1 << 20)
            for _ in range(unpacked >> 20):
                member.write(block)
    return path


def executable_as_csv(folder: Path) -> Path:
    path = folder / "lookup.csv"
    shutil.copyfile("/bin/true", path)
    return path


def office_with_macro(folder: Path, part: str = "word/vbaProject.bin") -> Path:
    """A Word document with a real VBA project (an ``AutoOpen`` macro running a shell command) at ``part``."""
    path = folder / "protocol.docm"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as doc:
        doc.writestr("[Content_Types].xml",
                     '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                     '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
                     '<Override PartName="/word/document.xml" ContentType="application/vnd.ms-word.document.macroEnabled.main+xml"/>'
                     '</Types>')
        doc.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="x"><w:body/></w:document>')
        doc.writestr(part, vba_project_bin())
    return path


def legacy_office_with_macro(folder: Path) -> Path:
    """The VBA project alone: an OLE2 compound file, as a legacy .doc/.xls carries one."""
    path = folder / "protocol.doc"
    path.write_bytes(vba_project_bin())
    return path


def office_without_macro(folder: Path) -> Path:
    path = folder / "protocol.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as doc:
        doc.writestr("[Content_Types].xml",
                     '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                     '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                     'officedocument.wordprocessingml.document.main+xml"/></Types>')
        doc.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="x"><w:body/></w:document>')
    return path


def csv_of_nirs(folder: Path) -> Path:
    path = folder / "linkage.csv"
    path.write_text("patient,age\n" + f"{VALID_NIR},54\n" * 3)
    return path


def eicar(folder: Path) -> Path:
    path = folder / "notes.txt"
    path.write_bytes(EICAR)
    return path


def eicar_signatures(folder: Path) -> Path:
    """A signature folder holding one ClamAV hash signature: EICAR's (``md5:size:name``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "eicar.hdb").write_text(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Enclave.Test.EICAR\n")
    return folder


def zipped_nirs(folder: Path) -> Path:
    """The CSV of NIRs inside a zip, beside a harmless table (the archive itself is well-formed)."""
    path = folder / "linkage.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(clean_csv(folder), "reference.csv")
        archive.write(csv_of_nirs(folder), "tables/linkage.csv")
    return path


def gzipped_nirs(folder: Path) -> Path:
    path = folder / "linkage.csv.gz"
    path.write_bytes(gzip.compress(csv_of_nirs(folder).read_bytes()))
    return path
