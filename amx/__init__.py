"""amx: regenerate the claims of explainability papers as executable, tested evidence."""

__version__ = "0.1.0"
