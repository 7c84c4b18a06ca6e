"""Training: models, the input pipeline and augmentation, the trainer and its time budget."""
