"""Home Assistant custom integrations.

A package, so that `python -m custom_components.amshan_corus` runs the command-line tool.
"""
