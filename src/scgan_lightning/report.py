"""``python -m scgan_lightning.report``: the command in ``cli/report.py``."""

from .cli.report import main

if __name__ == "__main__":
    main()
