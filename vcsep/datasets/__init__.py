"""Dataset readers (URMP, MUSDB18, MedleyDB, Bach10, stem folders), mixing, shards, synthetic corpus."""
