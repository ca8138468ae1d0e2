"""Realistic multi-source incident folders with answer keys, the rubric that scores a triage against them, and
`sleuth bench triage` (lab code: nothing in the runtime imports it)."""

from lab.incidents.gen import ANSWER, HERRINGS, KINDS, generate_incident, generate_incidents, read_answer

__all__ = ["ANSWER", "HERRINGS", "KINDS", "generate_incident", "generate_incidents", "read_answer"]
