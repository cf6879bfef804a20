"""The one exception ``kaito-tune`` reports to a person instead of printing a stack trace.

Anything the user can fix (a bad config, a missing dataset, QLoRA without a GPU) is raised as a
:class:`TuningError`; ``kaito-tune`` prints its message on one line and exits with status 2, so
the message lands in the pod's termination log and the Workspace condition, not in a traceback.
"""


class TuningError(Exception):
    """A problem with the tuning inputs, described for the person who supplied them."""
