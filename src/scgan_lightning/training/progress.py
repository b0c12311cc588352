"""The training progress bar: Lightning's rich bar, named for runs that end on an iteration
budget.

The experiments leave epochs unlimited (``trainer.max_epochs=-1``: the module stops on its own
iteration count), where Lightning's bar prints "Epoch 8/-2"; this one prints the epoch and the
run's budget instead.
"""

from __future__ import annotations

from pytorch_lightning.callbacks import RichProgressBar


class ProgressBar(RichProgressBar):
    """``RichProgressBar`` that names an unlimited run's epoch with the module's budget."""

    def _get_train_description(self, current_epoch: int) -> str:
        if self.trainer.max_epochs != -1:
            return super()._get_train_description(current_epoch)
        budget = getattr(self.trainer.lightning_module, "budget", None)
        text = f"Epoch {current_epoch}" + (f" of a {budget:,}-iteration run" if budget else "")
        return f"{text:{len(self.validation_description)}}"
