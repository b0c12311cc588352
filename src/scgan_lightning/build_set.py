"""``python -m scgan_lightning.build_set``: the command in ``cli/build_set.py``."""

from .cli.build_set import main

if __name__ == "__main__":
    main()
