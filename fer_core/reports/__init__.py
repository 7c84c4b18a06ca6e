"""What people read about runs: the HTML report and its sections, the model card, the seed
report, baselines and the wording of verdicts."""
