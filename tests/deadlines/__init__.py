"""Tests of deadlines."""
