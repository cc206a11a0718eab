"""BSSEval v4 scoring, aggregation, the ablation runner, plots and HTML reports."""
