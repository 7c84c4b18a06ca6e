"""Training: the backbone registry, the input pipeline and augmentation, and the trainer that
turns a TrainConfig into a finished run folder."""
