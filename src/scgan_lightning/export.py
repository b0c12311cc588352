"""``python -m scgan_lightning.export``: the command in ``cli/export.py``."""

from .cli.export import main

if __name__ == "__main__":
    main()
