"""Review of labels as services: consensus and the settled training set, adjudication,
label issues and the quality report."""
