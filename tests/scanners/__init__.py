"""Scanners the tests run over exported templates, each from its own venv (see checkov_scan.py)."""
