"""Pure machine learning over arrays: encoders, classifier, calibration, fitting, evaluation,
splits, query strategies, seeding and simulation. No database."""
