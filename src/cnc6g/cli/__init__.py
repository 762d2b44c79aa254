"""Command-line shell around the experiments (Typer + Rich)."""
