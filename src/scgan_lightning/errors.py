"""Errors a user can act on. Entry points print their message as one line, no traceback."""


class UserError(Exception):
    """A problem with the user's input (a file, a folder, a config value)."""


class CheckpointError(UserError):
    """A checkpoint file that cannot be read or does not fit the network."""


class DiskFullError(UserError):
    """A write that did not fit on its filesystem; the file it would have replaced is intact."""


class ImageInputError(UserError, TypeError):
    """An object given as an image that is not one of the kinds accepted (a wrong type, shape
    or dtype)."""
