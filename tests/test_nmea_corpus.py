"""The NMEA parser against real receivers: the corpus in ``/work/shared/data/nmea/``
(GGA, RMC and VTG sentences from gpsd's receiver logs and pynmea2's tests, each with
pynmea2 1.19.0's decoding).  The corpus is other projects' data and stays there; this
test reads it in place and is skipped where it is absent.

Agreement, sentence by sentence:

* the peer found the checksum missing or wrong, or could not parse: we decode nothing;
* the peer decoded it but could not convert a field (``{"unparsed": ...}`` or
  ``{"error": ...}``), or decoded a value outside the ranges the parser documents
  (a latitude of 360 degrees): we reject the sentence;
* otherwise we decode it, and every field equals the peer's: an empty field is NaN
  (numbers), 0 (counts) or '' (text) here and None there; RMC status A is ``valid``;
  a magnetic variation above 180 degrees (999.9: unknown) is NaN here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from robo_orch.drivers.nmea_protocol import Gga, NmeaParser, Rmc, Vtg

CORPUS = Path("/work/shared/data/nmea/peer_sentences.json")

#: (our field, the peer's field, kind) per sentence type
FIELDS = {
    Gga: [("time_s", "time_s", "num"), ("lat", "lat", "num"), ("lon", "lon", "num"),
          ("quality", "quality", "count"), ("satellites", "satellites", "count"),
          ("hdop", "hdop", "num"), ("altitude", "altitude", "num"),
          ("geoid_sep", "geoid_sep", "num"), ("dgps_age_s", "dgps_age_s", "num"),
          ("dgps_station", "dgps_station", "text")],
    Rmc: [("time_s", "time_s", "num"), ("valid", "status", "status"), ("lat", "lat", "num"),
          ("lon", "lon", "num"), ("speed_knots", "speed_knots", "num"),
          ("course_deg", "course_deg", "num"), ("date", "date", "date"),
          ("mag_var_deg", "mag_var_deg", "variation"), ("mode", "mode", "text")],
    Vtg: [("course_true_deg", "course_true_deg", "num"),
          ("course_mag_deg", "course_mag_deg", "num"), ("speed_knots", "speed_knots", "num"),
          ("speed_kmh", "speed_kmh", "num"), ("mode", "mode", "text")],
}
TYPES = {"GGA": Gga, "RMC": Rmc, "VTG": Vtg}
#: the ranges the parser documents (nmea_protocol's docstring), by the peer's field names
RANGES = {"lat": (-90, 90), "lon": (-180, 180), "quality": (0, 8), "satellites": (0, 99),
          "hdop": (0, 100), "altitude": (-1000, 100_000), "geoid_sep": (-200, 200),
          "dgps_age_s": (0, 86_400), "speed_knots": (0, 1000), "speed_kmh": (0, 1852),
          "course_deg": (0, 360), "course_true_deg": (0, 360), "course_mag_deg": (0, 360)}


def _same(ours, theirs, kind: str) -> bool:
    if kind == "num" or kind == "variation":
        if theirs is None or (kind == "variation" and abs(theirs) > 180.0):
            return math.isnan(ours)
        return math.isclose(ours, theirs, rel_tol=1e-12, abs_tol=1e-12)
    if kind == "count":
        return ours == (0 if theirs is None else theirs)
    if kind == "text":
        return ours == (theirs or "")
    if kind == "status":
        return ours == (theirs == "A")
    return ours == (None if theirs is None else tuple(theirs))  # date


def check(entry: dict) -> str | None:
    """None if our decoding of one corpus sentence agrees with the peer's; else why not."""
    parser = NmeaParser()
    frames = parser.feed(entry["sentence"].encode("latin-1") + b"\r\n")
    oracle = entry["oracle"]
    if oracle["result"] != "ok":
        return f"decoded although the peer says {oracle['result']}" if frames else None
    fields = oracle["fields"]
    broken = [k for k, v in fields.items() if isinstance(v, dict)]
    if broken:
        return f"decoded although the peer could not convert {broken}" if frames else None
    absurd = [k for k, (lo, hi) in RANGES.items()
              if isinstance(fields.get(k), (int, float)) and not lo <= fields[k] <= hi]
    if absurd:
        return f"decoded although {absurd} are out of range" if frames else None
    if len(frames) != 1 or type(frames[0]) is not TYPES[entry["type"]]:
        return f"not decoded ({dict(parser.bad)})"
    frame = frames[0]
    wrong = [f"{ours}: {getattr(frame, ours)!r} vs {fields[theirs]!r}"
             for ours, theirs, kind in FIELDS[type(frame)]
             if not _same(getattr(frame, ours), fields[theirs], kind)]
    return "; ".join(wrong) or None


@pytest.mark.skipif(not CORPUS.exists(), reason=f"the real-receiver corpus is not at {CORPUS} "
                    "(it is other projects' data and is not part of this repository)")
def test_parser_agrees_with_the_peer_on_every_real_receiver_sentence():
    entries = json.loads(CORPUS.read_text())["sentences"]
    assert len(entries) >= 400
    mismatches = [f"{e['id']} {e['sentence']}: {why}" for e in entries
                  if (why := check(e)) is not None]
    assert mismatches == []
    # and the lengths RTK receivers send (83 to 103 characters) are all in
    long = [e for e in entries if e["length"] > 82 and e["oracle"]["result"] == "ok"
            and not any(isinstance(v, dict) for v in e["oracle"]["fields"].values())]
    assert len(long) >= 15
    for e in long:
        assert NmeaParser().feed(e["sentence"].encode("ascii") + b"\r\n"), e["sentence"]
