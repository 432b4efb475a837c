"""Arrow text columns built in numpy byte buffers (much faster than per-row Python or
pc.strftime): ids, timestamps, IPs and money.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from tagging.generator.sampling import DAY, Arr, draw_index

BAD_TS: tuple[str | None, ...] = ("not-a-date", "2026-13-45 25:00:00", None)
FORMAT_P = (0.5, 0.25, 0.25)  # ISO with offset, epoch seconds, epoch milliseconds
TZ_NAMES, TZ_SECONDS, TZ_P = ("Z", "+08:00", "-05:00"), (0, 8 * 3600, -5 * 3600), (0.3, 0.5, 0.2)


def _put_digits(buf: Arr, col: int, values: Arr, width: int) -> None:
    """Zero-padded decimal digits of `values` into buf[:, col:col + width]."""
    v = np.asarray(values, dtype=np.int64)
    for i in range(width - 1, -1, -1):
        buf[:, col + i] = 48 + v % 10
        v = v // 10


def _put_hex(buf: Arr, col: int, values: Arr, width: int, upper: bool) -> None:
    lut = np.frombuffer(b"0123456789ABCDEF" if upper else b"0123456789abcdef", dtype=np.uint8)
    v = np.asarray(values).astype(np.uint64)
    for i in range(width - 1, -1, -1):
        buf[:, col + i] = lut[(v & np.uint64(15)).astype(np.int64)]
        v = v >> np.uint64(4)


def _string_array(buf: Arr) -> pa.Array:
    """The rows of a fixed-width byte buffer as a string array (no copy through Python)."""
    n, w = buf.shape
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(w)
    data = np.ascontiguousarray(buf, dtype=np.uint8).ravel()
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _compose(sections: list[tuple[Arr, Arr]]) -> pa.Array:
    """Concatenate per-row variable-length byte sections (buffer, used length) into strings."""
    buf = np.concatenate([b for b, _ in sections], axis=1)
    used = np.concatenate(
        [np.arange(b.shape[1])[None, :] < n[:, None] for b, n in sections], axis=1
    )
    lengths = np.sum([n for _, n in sections], axis=0)
    offsets = np.zeros(len(buf) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    data = buf[used]
    return pa.Array.from_buffers(
        pa.string(), len(buf), [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def id_text(prefix: str, numbers: Arr, width: int, hex_upper: bool | None = None) -> pa.Array:
    """prefix + zero-padded decimal (or hex when hex_upper is set) of each number."""
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)
    buf = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    buf[:, : len(head)] = head
    if hex_upper is None:
        _put_digits(buf, len(head), numbers, width)
    else:
        _put_hex(buf, len(head), numbers, width, hex_upper)
    return _string_array(buf)


def _civil(seconds: Arr) -> tuple[Arr, Arr, Arr, Arr, Arr, Arr]:
    """(year, month, day, hour, minute, second) of epoch seconds."""
    days = seconds // DAY
    rest = seconds - days * DAY
    d = days.astype("datetime64[D]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return year, month, day, rest // 3600, rest // 60 % 60, rest % 60


def _datetime_buf(seconds: Arr, sep: str, with_time: bool = True) -> Arr:
    """'YYYY-MM-DD<sep>HH:MM:SS' (or just the date) as a byte buffer."""
    parts = _civil(np.asarray(seconds, dtype=np.int64))
    buf = np.empty((len(seconds), 19 if with_time else 10), dtype=np.uint8)
    layout = ((0, 4, "-"), (5, 2, "-"), (8, 2, sep), (11, 2, ":"), (14, 2, ":"), (17, 2, ""))
    for (col, width, after), values in zip(layout[: 6 if with_time else 3], parts, strict=False):
        _put_digits(buf, col, values, width)
        if after and col + width < buf.shape[1]:
            buf[:, col + width] = ord(after)
    return buf


def datetime_text(seconds: Arr, with_time: bool = True) -> pa.Array:
    return _string_array(_datetime_buf(seconds, " ", with_time))


def ts_text(rng: np.random.Generator, ts_ms: Arr) -> pa.Array:
    """The instants in a random mix of ISO-with-offset, epoch seconds and epoch milliseconds."""
    n = len(ts_ms)
    fmt = draw_index(rng, FORMAT_P, n)
    has_ms = ts_ms % 1000 != 0
    fmt[(fmt == 1) & has_ms] = 2  # epoch seconds cannot carry the milliseconds
    tz = draw_index(rng, TZ_P, n)
    iso = fmt == 0
    local = ts_ms // 1000 + np.asarray(TZ_SECONDS)[tz]
    frac = np.empty((n, 4), dtype=np.uint8)
    frac[:, 0] = ord(".")
    _put_digits(frac, 1, ts_ms % 1000, 3)
    suffix = np.zeros((3, 6), dtype=np.uint8)
    for i, name in enumerate(TZ_NAMES):
        suffix[i, : len(name)] = np.frombuffer(name.encode(), dtype=np.uint8)
    epoch = np.empty((n, 13), dtype=np.uint8)
    _put_digits(epoch, 0, np.where(fmt == 1, ts_ms // 1000 * 1000, ts_ms), 13)
    epoch_len = np.where(fmt == 1, 10, np.where(fmt == 2, 13, 0))
    return _compose(
        [
            (_datetime_buf(local, "T"), np.where(iso, 19, 0)),
            (frac, np.where(iso & has_ms, 4, 0)),
            (suffix[tz], np.where(iso, np.asarray([len(t) for t in TZ_NAMES])[tz], 0)),
            (epoch, epoch_len),
        ]
    )


def with_bad_ts(text: pa.Array, bad: Arr, variant: Arr) -> pa.Array:
    """Replace the rows flagged `bad` with unreadable timestamps (or null)."""
    if not bad.any():
        return text
    values = pa.array([BAD_TS[v] for v in variant[bad]], type=pa.string())
    return pc.replace_with_mask(text, pa.array(bad), values)


def ip_text(ip: Arr) -> pa.Array:
    """Dotted-quad text of IPv4 addresses held as integers."""
    sections: list[tuple[Arr, Arr]] = []
    for i, shift in enumerate((24, 16, 8, 0)):
        v = (ip >> shift) & 255
        n_digits = 1 + (v >= 10) + (v >= 100)
        buf = np.empty((len(ip), 3), dtype=np.uint8)
        for pos in range(3):
            power = np.maximum(n_digits - 1 - pos, 0)
            buf[:, pos] = 48 + (v // 10**power) % 10
        sections.append((buf, n_digits))
        if i < 3:
            sections.append((np.full((len(ip), 1), ord("."), dtype=np.uint8), np.ones(len(ip))))
    return _compose([(b, n.astype(np.int64)) for b, n in sections])


def money(cents: Arr) -> pa.Array:
    """Integer cents as decimal128(14, 2), so the CSV shows exactly two decimals."""
    lo = np.asarray(cents, dtype=np.int64)
    data = np.stack([lo, np.where(lo < 0, -1, 0)], axis=1).ravel()  # little-endian int128
    return pa.Array.from_buffers(pa.decimal128(14, 2), len(lo), [None, pa.py_buffer(data)])


def take_or_null(values: pa.Array, index: Arr) -> pa.Array:
    """values[index], null where index < 0."""
    index = np.asarray(index, dtype=np.int64)
    return pc.take(values, pa.array(index, mask=index < 0))


def nullable_int(values: Arr) -> pa.Array:
    values = np.asarray(values, dtype=np.int64)
    return pa.array(values, mask=values < 0)


def write_table(path: Path, table: pa.Table) -> None:
    pa_csv.write_csv(table, path)


def nulls_where(values: pa.Array, mask: Arr) -> pa.Array:
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)
