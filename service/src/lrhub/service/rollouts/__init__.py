"""Rollouts: a change tried on a canary cohort of a fleet, judged, then promoted or reverted."""
