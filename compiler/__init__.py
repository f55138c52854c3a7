"""netpolc: a policy-as-code compiler for Kubernetes NetworkPolicy."""

__version__ = "0.1.0"
