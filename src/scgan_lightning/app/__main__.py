"""``python -m scgan_lightning.app``: the command in ``cli/app.py``."""

from ..cli.app import main

if __name__ == "__main__":
    main()
