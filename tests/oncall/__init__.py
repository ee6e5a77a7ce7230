"""Tests of oncall."""
