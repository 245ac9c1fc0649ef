"""Retention deadlines, erasure, the sweep and receipts."""
