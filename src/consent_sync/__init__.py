"""consent-sync: keeps consent and opt-out state consistent across a company's CRMs."""

__version__ = "0.1.0"
