"""The synthetic URMP-style corpus: real scores rendered with sampled real instruments, and a
procedurally drawn performance video per piece (``vcsep synth``)."""

from vcsep.datasets.synth.corpus import (
    PiecePlan,
    SynthSettings,
    part_timbres,
    plan_corpus,
    synthesize_corpus,
    train_scores,
)

__all__ = ["PiecePlan", "SynthSettings", "part_timbres", "plan_corpus", "synthesize_corpus", "train_scores"]
