"""Use cases.  Each public function takes ``session`` (keyword-only), does one
use case's reads and writes without committing, and raises a DomainError for
anything the caller did wrong.  The caller runs it in ``Database.transaction``.
"""
