"""Run every benchmark under bench/ in one go and print their results side by side.

Each benchmark script ends with a line of ``key=value`` pairs; this runner collects those lines
and checks them against the targets of the issues that asked for them.
"""

from __future__ import annotations

import operator
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (script, key) -> (comparison, target); a key "a/b" is the ratio of two reported values
TARGETS = {
    ("synth", "synth_realtime_factor"): (">=", 10.0),
    ("inference", "speedup"): (">=", 4.0),
    ("inference", "s_per_audio_s"): ("<=", 0.03),
    ("inference", "peak_fraction"): (">=", 0.5),
    ("vision", "labels_wall_s"): ("<=", 20.0),
    ("tagger", "tag_wall_s"): ("<=", 3.0),
    ("sight_sound", "fused_f1"): (">=", 0.95),
    ("sight_sound", "sdr_loss_db"): ("<=", 0.3),
    # issue 15's real-video target (every instrument found, nothing else), on real photographs and
    # real recordings: a stand-in for the held-back videos, so not all, but nearly all scenes
    ("real_scenes", "exact_fraction"): (">=", 0.9),
    ("data", "inmemory_per_s/train_per_s"): (">=", 10.0),
    ("data", "shards_per_s/train_per_s"): (">=", 10.0),
    ("train", "stall_fraction"): ("<", 0.05),
    ("evaluate", "speedup"): (">=", 10.0),
    ("evaluate", "max_abs_diff_db"): ("<=", 0.01),
    ("separate", "wall_s"): ("<=", 60.0),
    ("memory", "peak_rss_mb_20min"): ("<=", 1500.0),
    ("memory", "ratio"): ("<=", 1.3),
    # issue 16's targets for the shipped separator (median SDR over pairs, true labels)
    ("realism", "synthetic_sdr"): (">=", 10.0),
    ("realism", "unseen_timbre_sdr"): (">=", 7.0),
    ("realism", "real_solo_sdr"): (">=", 6.0),
    ("realism", "conditioning_gain_db"): (">=", 3.0),
    # issues 23 and 24 on real players (bench/real_ensembles.py, bench/real_players.py: issue 22)
    ("real_ensembles", "real_ensemble_sdr"): (">=", 6.0),
    ("real_players", "exact_fraction"): (">=", 0.9),
    ("real_players", "sound_top1_m45dbfs"): (">=", 0.8),
    ("real_players", "sound_top1_m18dbfs"): (">=", 0.8),
}
COMPARE = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


def last_pairs(output: str) -> dict[str, float]:
    """The ``key=value`` pairs of the last line that has any."""
    for line in reversed(output.strip().splitlines()):
        pairs = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if pairs:
            return {k: float(v) for k, v in pairs.items()}
    return {}


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    rows = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        print(proc.stdout + proc.stderr[-2000:] if proc.returncode else proc.stdout, flush=True)
        pairs = last_pairs(proc.stdout) if proc.returncode == 0 else {}
        for bench, key in TARGETS:
            num, _, den = key.partition("/")
            if bench == script.stem and den and num in pairs and den in pairs:
                pairs[key] = pairs[num] / pairs[den]
        if not pairs:
            rows.append((script.stem, "(failed)", float("nan"), "", "FAIL"))
        for key, value in pairs.items():
            cmp, target = TARGETS.get((script.stem, key), (None, None))
            verdict = "" if target is None else ("ok" if COMPARE[cmp](value, target) else "MISS")
            rows.append((script.stem, key, value, f"{cmp} {target}" if target is not None else "", verdict))
        print(f"   ({time.perf_counter() - start:.0f} s)\n")
    print(f"{'bench':<14} {'metric':<24} {'value':>10} {'target':>9}  verdict")
    for bench, key, value, target, verdict in rows:
        print(f"{bench:<14} {key:<24} {value:>10.4g} {target:>9}  {verdict}")
    return 0 if all(r[4] != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
