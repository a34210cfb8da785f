"""The exceptions pktlab raises; the CLI turns each into one clear line and a non-zero exit."""


class PktlabError(Exception):
    """Base of every error pktlab reports to the user."""


class ScenarioError(PktlabError):
    """Bad input in a scenario file: names the file, the key and the reason."""

    def __init__(self, file, key, reason):
        self.file, self.key, self.reason = str(file), key, reason
        where = f"{self.file}: {key}" if key else self.file
        super().__init__(f"{where}: {reason}")


class PrecheckError(ScenarioError):
    """The host cannot run the scenario as written (missing binary, not enough
    hugepages, a core that does not exist). Raised before any host change."""


class HostError(PktlabError):
    """A host that cannot be reached or used as described (inventory, SSH, root, packages):
    names the host; raised before anything changes on it (the CLI's exit 2)."""


class StepError(PktlabError):
    """A plan step failed to apply; the runner undoes what was applied."""


class GeneratorError(PktlabError):
    """The C generator returned a failure status; carries the status and the reason."""

    def __init__(self, status, reason):
        self.status, self.reason = status, reason
        super().__init__(f"generator: {reason} (status {status})")
