"""The `garrison` command line (click)."""
