"""The synthetic URMP-style corpus: real scores rendered with sampled real instruments, and a
procedurally drawn performance video per piece (``vcsep synth``)."""

from vcsep.datasets.synth.corpus import PiecePlan, SynthSettings, plan_corpus, synthesize_corpus

__all__ = ["PiecePlan", "SynthSettings", "plan_corpus", "synthesize_corpus"]
