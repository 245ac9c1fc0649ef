"""The consent ledger, the suppression list, cookie consent and GPC."""
