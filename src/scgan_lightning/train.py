"""``python -m scgan_lightning.train``: the command in ``cli/train.py``."""

from .cli.train import main

if __name__ == "__main__":
    main()
