"""Pure-Python meter protocol libraries; nothing here imports Home Assistant."""
