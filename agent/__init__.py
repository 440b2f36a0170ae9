"""Agent layer: configuration, runtime and the `finops` command-line interface."""
