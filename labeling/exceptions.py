"""Errors of the labeling package. The CLI and the pages turn them into messages."""


class LabelingError(ValueError):
    """Base class: a request the labeling services refuse, with a message for the user."""


class UnknownTaskError(LabelingError):
    """No task by that name."""


class TaskDefinitionError(LabelingError):
    """A task's name, kind or label set is not valid."""


class ImportFileError(LabelingError):
    """A file cannot be imported; nothing was written."""


class AuthenticationError(LabelingError):
    """Wrong username or password, or a disabled account."""


class AccountError(LabelingError):
    """An account cannot be created or changed as asked."""


class EmptyPoolError(LabelingError):
    """No unlabeled items are left to pick from."""


class RatingsError(LabelingError):
    """A ratings table (item, rater, label) cannot be measured or aggregated as given."""


class PrivacyError(LabelingError):
    """An end user's data cannot be pseudonymised, exported, erased or expired as asked."""
