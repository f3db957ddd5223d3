"""matcher: find the same product sold by many sellers, from each listing's title and photo."""

__version__ = "0.1.0"
