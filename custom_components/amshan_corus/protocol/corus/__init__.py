"""Itron/Actaris Corus gas volume converter protocol library (I-FLAG/Corus, SAM over TCP).

Pure Python, no Home Assistant imports.
"""
