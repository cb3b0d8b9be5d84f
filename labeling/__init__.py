"""Labeling: embeddings, tasks, imports and exports, accounts, the queue and the models."""
