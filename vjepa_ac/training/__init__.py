"""Training: the shared trainer skeleton, every trainer, encoder pretraining, feature caches, schedules."""
