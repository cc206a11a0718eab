"""vcsep: separate recorded music performance videos into one audio track per instrument.

The vision stack (:mod:`vcsep.vision`) finds the instruments on the frames, the fusion module
(:mod:`vcsep.fusion`) conditions a time-domain Wave-U-Net (:mod:`vcsep.audio`) on them, and the
separator writes one stem per source it was trained on (``model.sources``: the 13 URMP instruments of
:data:`vcsep.vocab.CODES` for the shipped one; absent instruments are silent).
"""

from pathlib import Path

__version__ = "0.1.0"

# The default models shipped inside the package (written by `make models`): separator.pt,
# detector.pt and the record of the corpus they learned from.
DEFAULT_MODELS = Path(__file__).resolve().parent / "models"


def __getattr__(name: str):
    # `import vcsep` stays light; the separator (torch, PyAV) loads on first use.
    if name == "Separator":
        from vcsep.pipeline import Separator

        return Separator
    raise AttributeError(f"module 'vcsep' has no attribute {name!r}")
