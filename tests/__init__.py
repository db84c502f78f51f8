"""Tests of amshan_corus."""
