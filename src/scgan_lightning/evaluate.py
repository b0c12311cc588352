"""``python -m scgan_lightning.evaluate``: the command in ``cli/evaluate.py``."""

from .cli.evaluate import main

if __name__ == "__main__":
    main()
