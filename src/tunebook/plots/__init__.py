"""Thin matplotlib drawers of analysis results (Agg backend; tests check the data)."""
