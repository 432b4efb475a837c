"""Text files in whatever encoding a shop's tools saved them: detected, and turned into UTF-8
for DuckDB when they are not UTF-8 already.

UTF-8 (with or without BOM) is read as it is. Anything else (GB18030/GBK from Excel on a Chinese
Windows machine, UTF-16 from some exports, Windows-1252) is detected with charset-normalizer on
the file's first megabyte, unless the shop names it, and copied as UTF-8 into the run's work
folder. Where the detector finds several encodings equally plausible (short Chinese text decodes
as GB18030, Big5 and others alike), GB18030 wins: it is what Chinese Windows tools write.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer

from store.errors import InputError

SAMPLE_BYTES = 1 << 20
CHUNK_CHARS = 1 << 20
UTF8 = "utf-8"
PREFERRED = "gb18030"
# What a file that is not text starts with, and what it then probably is.
MAGIC = {
    b"PK\x03\x04": "an xlsx workbook or another zip archive",
    b"PAR1": "a Parquet file",
    b"\xd0\xcf\x11\xe0": "an old Excel (xls) workbook",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
}


@dataclass(frozen=True)
class TextFile:
    path: Path  # what DuckDB reads: the file itself, or its UTF-8 copy
    encoding: str  # what the shop's file was written in


def check_encoding(name: str) -> str:
    """A codec name Python knows, normalised (`GBK` -> `gbk`); else an InputError."""
    try:
        return codecs.lookup(name).name
    except LookupError as error:
        raise InputError(
            f"encoding {name!r} is not one Python knows (try gb18030, utf-16)"
        ) from error


def as_utf8(path: Path, workdir: Path, *, encoding: str | None = None) -> TextFile:
    """`path` as a UTF-8 file for DuckDB, and the encoding it was written in."""
    with path.open("rb") as file:
        sample = file.read(SAMPLE_BYTES)
    found = check_encoding(encoding) if encoding else detect(path, sample)
    if found == UTF8 or (found == "utf-8-sig" and not encoding):
        return TextFile(path, UTF8 if found == UTF8 else "utf-8-sig")
    copy = workdir / f"{path.stem}.utf8{path.suffix}"
    _transcode(path, copy, found)
    return TextFile(copy, found)


def detect(path: Path, sample: bytes) -> str:
    """The encoding of a file whose first bytes are `sample`."""
    for magic, what in MAGIC.items():
        if sample.startswith(magic):
            raise InputError(f"{path}: is not a text file; it looks like {what}")
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _is_utf8(sample, whole=len(sample) < SAMPLE_BYTES):
        return UTF8
    matches = list(charset_normalizer.from_bytes(sample))
    if not matches:
        raise InputError(
            f"{path}: is not text in any encoding Portrait recognises; "
            "save it as UTF-8, or name its encoding (--encoding, or encoding in [shop])"
        )
    least = min(match.chaos for match in matches)
    plausible = [codecs.lookup(m.encoding).name for m in matches if m.chaos == least]
    return PREFERRED if PREFERRED in plausible else plausible[0]


def _is_utf8(sample: bytes, *, whole: bool) -> bool:
    decoder = codecs.getincrementaldecoder(UTF8)()
    try:
        # A sample cut inside a character is fine unless it is the whole file.
        decoder.decode(sample, final=whole)
    except UnicodeDecodeError:
        return False
    return True


def _transcode(path: Path, copy: Path, encoding: str) -> None:
    try:
        with (
            path.open(encoding=encoding, newline="") as source,
            copy.open("w", encoding=UTF8, newline="") as target,
        ):
            while chunk := source.read(CHUNK_CHARS):
                target.write(chunk)
    except UnicodeDecodeError as error:
        raise InputError(
            f"{path}: is not valid {encoding} text (it holds the bytes "
            f"{error.object[error.start : error.start + 4]!r}); name the file's encoding "
            "(--encoding, or encoding in [shop]) or save it as UTF-8"
        ) from error
