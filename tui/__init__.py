"""The `sleuth` command line and the Textual app."""
