"""obsgen: one declarative spec in, a validated monitoring stack out."""

__version__ = "0.1.0"
