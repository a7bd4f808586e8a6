"""The decision: the rate of one epoch of a job, and the history of decisions."""
