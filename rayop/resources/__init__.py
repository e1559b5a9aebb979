"""Typed models of the ray.io/v1 kinds and the core kinds rayop reads."""
