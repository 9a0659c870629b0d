"""advrepro: regenerate the tables and figures of four papers on adversarial examples."""

__version__ = "0.1.0"
