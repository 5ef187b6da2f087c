"""Webhooks on the receiving side: the signature scheme, and a local receiver.

`verify_signature(secret, body, signature)` is public, for anyone building a receiver in
Python (see `makini_cli.webhooks.signature` for the scheme). The receiver behind
`makini webhooks listen` lives in `makini_cli.webhooks.listener` and is imported only
by whoever runs it.
"""

from makini_cli.webhooks.signature import Failure, explain_failure, sign, verify_signature

__all__ = ["Failure", "explain_failure", "sign", "verify_signature"]
