"""``python -m scgan_lightning.predict``: the command in ``cli/predict.py``."""

from .cli.predict import main

if __name__ == "__main__":
    main()
