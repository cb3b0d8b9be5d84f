"""The model lifecycle as services: training and evaluation, model files, and the registry
(versions, promotion, rollback)."""
