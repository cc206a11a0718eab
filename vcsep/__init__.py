"""vcsep: separate recorded music performance videos into one audio track per instrument.

The vision stack (:mod:`vcsep.vision`) finds the instruments on the frames, the fusion module
(:mod:`vcsep.fusion`) conditions a time-domain Wave-U-Net (:mod:`vcsep.audio`) on them, and the
separator writes one stem per slot of :data:`vcsep.vocab.CODES` (absent instruments are silent).
"""

__version__ = "0.1.0"
