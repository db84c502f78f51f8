"""HAN/P1 smart electricity meter protocol library (HDLC/DLMS/COSEM, IEC 62056-21 P1).

Pure Python, no Home Assistant imports.
"""
