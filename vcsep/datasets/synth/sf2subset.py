"""A plain SF2 holding only some presets of a soundfont (sf2 or sf3), samples decoded to 16 bits.

fluidsynth parses all of MuseScore General (an 86 MB sf3 of 312 presets and 2203 Ogg Vorbis
samples) in about 1.2 s every time a process loads it, which alone would eat a tenth of the
corpus generator's time budget. The 13 GM programs of the vocabulary need a fraction of it: this
module copies their presets, instruments and samples (Vorbis samples decoded by libsndfile to
16 bits, as fluidsynth itself decodes them) into a small SF2 that loads in milliseconds and renders
the same notes. Debian's polyphone cannot read MuseScore's sf3, hence vcsep's own writer.

SoundFont 2.01 layout: RIFF ``sfbk`` with LIST ``INFO``, LIST ``sdta`` (``smpl``: 16-bit samples,
46 zero samples after each) and LIST ``pdta`` (``phdr pbag pmod pgen inst ibag imod igen shdr``,
each ending with a terminal record). In sf3 files a Vorbis sample's start and end are byte offsets
into ``smpl`` and its loop points count from the sample's own start.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from vcsep.files import atomic_path

_FORMATS = {
    b"phdr": "<20sHHHIII",
    b"pbag": "<HH",
    b"pmod": "<HHhHH",
    b"pgen": "<HH",
    b"inst": "<20sH",
    b"ibag": "<HH",
    b"imod": "<HHhHH",
    b"igen": "<HH",
    b"shdr": "<20sIIIIIBbHH",
}
_INSTRUMENT, _SAMPLE_ID = 41, 53  # generators that point at an instrument / a sample
_VORBIS = 0x10
_PAD = 46  # zero samples the format requires after each sample


def _chunks(data: bytes, start: int, end: int):
    while start + 8 <= end:
        size = struct.unpack_from("<I", data, start + 4)[0]
        yield data[start : start + 4], start + 8, size
        start += 8 + size + (size & 1)


def _read(path: Path) -> tuple[bytes, dict[bytes, list[tuple]], int]:
    """The file's bytes, its pdta records by chunk name, and the offset of its ``smpl`` data."""
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError(f"{path} is not a SoundFont file")
    records: dict[bytes, list[tuple]] = {}
    smpl = -1
    for _, offset, size in _chunks(data, 12, len(data)):
        kind = data[offset : offset + 4]
        for name, start, length in _chunks(data, offset + 4, offset + size):
            if kind == b"sdta" and name == b"smpl":
                smpl = start
            elif kind == b"pdta" and name in _FORMATS:
                step = struct.calcsize(_FORMATS[name])
                records[name] = [
                    struct.unpack_from(_FORMATS[name], data, start + i) for i in range(0, length, step)
                ]
    if smpl < 0 or set(records) != set(_FORMATS):
        raise ValueError(f"{path}: incomplete SoundFont (sdta/pdta chunks missing)")
    return data, records, smpl


def _zones(bags: list[tuple], gens: list[tuple], mods: list[tuple], first: int, last: int):
    """Generators and modulators of bags ``first..last-1``: ``[(gens, mods)]``."""
    return [
        (gens[bags[b][0] : bags[b + 1][0]], mods[bags[b][1] : bags[b + 1][1]]) for b in range(first, last)
    ]


def _bank0_presets(r: dict[bytes, list[tuple]], programs: Iterable[int]) -> dict[int, int]:
    """Index of the bank-0 preset of each of ``programs`` that the soundfont has: ``{program: index}``."""
    wanted = set(programs)
    return {p[1]: i for i, p in enumerate(r[b"phdr"][:-1]) if p[2] == 0 and p[1] in wanted}


def _zones_of(r: dict[bytes, list[tuple]], kind: str, index: int):
    """Zones of preset (``kind="p"``) or instrument (``"i"``) ``index``: ``[(gens, mods)]``."""
    head, bags, gens, mods = (
        (r[b"phdr"], r[b"pbag"], r[b"pgen"], r[b"pmod"])
        if kind == "p"
        else (r[b"inst"], r[b"ibag"], r[b"igen"], r[b"imod"])
    )
    bag_index = 3 if kind == "p" else 1
    return _zones(bags, gens, mods, head[index][bag_index], head[index + 1][bag_index])


def _linked(zones, generator: int) -> set[int]:
    """What the zones' ``generator`` (instrument or sample id) points at."""
    return {g[1] for gens, _ in zones for g in gens if g[0] == generator}


def program_samples(source: Path | str, programs: Iterable[int]) -> dict[int, frozenset[int]]:
    """The samples (indices into the file's sample headers) each bank-0 preset of ``programs`` plays,
    through its instruments; programs the soundfont lacks are left out.

    Small GM banks reuse one instrument's samples for its neighbours (TimGM6mb's viola plays its
    violin's samples): programs whose sets intersect do not sound like different instruments.
    """
    _, r, _ = _read(Path(source))
    out = {}
    for program, preset in _bank0_presets(r, programs).items():
        instruments = _linked(_zones_of(r, "p", preset), _INSTRUMENT)
        out[program] = frozenset(s for i in instruments for s in _linked(_zones_of(r, "i", i), _SAMPLE_ID))
    return out


def subset_soundfont(source: Path | str, programs: Iterable[int], target: Path | str) -> Path:
    """Write to ``target`` an SF2 with the bank-0 presets of ``programs`` from ``source`` (sf2/sf3),
    their instruments and samples; returns ``target``. A program ``source`` lacks is a ``ValueError``."""
    source, target = Path(source), Path(target)
    data, r, smpl = _read(source)
    wanted = set(programs)
    found = _bank0_presets(r, wanted)
    missing = wanted - set(found)
    if missing:
        raise ValueError(f"{source} has no bank-0 preset for GM programs {sorted(missing)}")
    presets = sorted(found.values())
    preset_zones = {i: _zones_of(r, "p", i) for i in presets}
    instruments = sorted(set().union(*(_linked(zones, _INSTRUMENT) for zones in preset_zones.values())))
    instrument_zones = {i: _zones_of(r, "i", i) for i in instruments}
    samples = sorted(set().union(*(_linked(zones, _SAMPLE_ID) for zones in instrument_zones.values())))
    inst_map = {old: new for new, old in enumerate(instruments)}
    sample_map = {old: new for new, old in enumerate(samples)}

    def remap(gens: list[tuple], key: int, mapping: dict[int, int]) -> list[tuple]:
        return [(op, mapping[amount]) if op == key else (op, amount) for op, amount in gens]

    def pdta_lists(heads, zones_by_head, key, mapping, name_fmt):
        """Header, bag, modulator and generator records, each with its terminal record."""
        head_recs, bag_recs, mod_recs, gen_recs = [], [], [], []
        for head, zones in zip(heads, zones_by_head):
            head_recs.append(name_fmt(head, len(bag_recs)))
            for gens, mods in zones:
                bag_recs.append((len(gen_recs), len(mod_recs)))
                gen_recs += remap(gens, key, mapping)
                mod_recs += mods
        return (
            head_recs,
            bag_recs + [(len(gen_recs), len(mod_recs))],
            mod_recs + [(0, 0, 0, 0, 0)],
            gen_recs + [(0, 0)],
        )

    phdr, pbag, pmod, pgen = pdta_lists(
        [r[b"phdr"][i] for i in presets],
        [preset_zones[i] for i in presets],
        _INSTRUMENT,
        inst_map,
        lambda h, bag: (h[0], h[1], h[2], bag, h[4], h[5], h[6]),
    )
    phdr.append((b"EOP", 0, 0, len(pbag) - 1, 0, 0, 0))
    inst, ibag, imod, igen = pdta_lists(
        [r[b"inst"][i] for i in instruments],
        [instrument_zones[i] for i in instruments],
        _SAMPLE_ID,
        sample_map,
        lambda h, bag: (h[0], bag),
    )
    inst.append((b"EOI", len(ibag) - 1))

    pcm, shdr, position = [], [], 0
    for old in samples:
        name, start, end, loop_start, loop_end, rate, pitch, correction, link, kind = r[b"shdr"][old]
        if kind & _VORBIS:
            wave, _ = sf.read(io.BytesIO(data[smpl + start : smpl + end]), dtype="int16")
            wave = wave if wave.ndim == 1 else wave[:, 0]
        else:  # plain sf2: sample points, loops absolute
            wave = np.frombuffer(data, dtype="<i2", count=end - start, offset=smpl + 2 * start)
            loop_start, loop_end = loop_start - start, loop_end - start
        pcm += [wave.astype("<i2"), np.zeros(_PAD, dtype="<i2")]
        # types 2/4/8 (right/left/linked) point at a partner; without it the sample plays as mono
        partner = sample_map.get(link) if kind & 0x0E else None
        link, kind = (
            (partner, kind & ~_VORBIS) if partner is not None else (0, (kind & ~_VORBIS & ~0x0E) or 1)
        )
        shdr.append(
            (
                name,
                position,
                position + len(wave),
                position + loop_start,
                position + loop_end,
                rate,
                pitch,
                correction,
                link,
                kind,
            )
        )
        position += len(wave) + _PAD
    shdr.append((b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0))

    def chunk(name: bytes, payload: bytes) -> bytes:
        return name + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")

    def table(name: bytes, rows: list[tuple]) -> bytes:
        return chunk(name, b"".join(struct.pack(_FORMATS[name], *row) for row in rows))

    title = f"{source.stem}: GM programs {','.join(map(str, sorted(wanted)))} (vcsep subset)".encode()[:254]
    # INFO strings are zero-terminated and of even size, the size field included: fluidsynth
    # refuses an INAM of odd size (as a title of 57 bytes was)
    title += b"\0" * (2 - len(title) % 2)
    info = chunk(b"ifil", struct.pack("<HH", 2, 1)) + chunk(b"isng", b"EMU8000\0") + chunk(b"INAM", title)
    body = b"sfbk" + chunk(b"LIST", b"INFO" + info)
    body += chunk(b"LIST", b"sdta" + chunk(b"smpl", np.concatenate(pcm).tobytes()))
    pdta = [(b"phdr", phdr), (b"pbag", pbag), (b"pmod", pmod), (b"pgen", pgen), (b"inst", inst),
            (b"ibag", ibag), (b"imod", imod), (b"igen", igen), (b"shdr", shdr)]  # fmt: skip
    body += chunk(b"LIST", b"pdta" + b"".join(table(n, rows) for n, rows in pdta))
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return target
