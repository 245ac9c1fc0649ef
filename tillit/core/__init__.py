"""The shared kernel: actors, the domain error tree, base models and vocabulary."""
