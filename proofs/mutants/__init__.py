"""Deliberately broken variants of spec functions; each must be refuted by the proof suite."""
