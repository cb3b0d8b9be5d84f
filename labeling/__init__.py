"""Labeling: the generic human-in-the-loop machinery, one sub-package per concern.

Pure (arrays and frames in, results out; no database): ``ml`` (encoders, classifier,
calibration, evaluation, query strategies, simulation) and ``metrics`` (agreement,
aggregation, rater quality). Files: ``dataio`` (reading and writing formats, demo content).
Services over the database, lowest first: ``project`` (tasks, accounts, items, vectors, import,
export), ``review`` (consensus, adjudication, label issues, quality), ``lifecycle`` (training,
model files, registry) and ``queue`` (batches, leases, answers). Errors: ``exceptions``.
"""
