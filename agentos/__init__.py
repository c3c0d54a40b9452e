"""AgentOS control plane: the user API, the admin read model and admin actions."""

__version__ = "0.1.0"
