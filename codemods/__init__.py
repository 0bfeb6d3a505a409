"""gofix-defer engine: parse Go files, run rules, merge their fixes, diff and write."""

__version__ = "0.1.0"
