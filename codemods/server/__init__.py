"""`gofix-defer server`: a Language Server over stdio.

It publishes the findings of the open Go files as diagnostics, offers each
fix as a `quickfix` code action and the safe ones together as
`source.fixAll.gofix-defer`. The protocol side (``lsp``) needs pygls, from
the `server` extra; ``positions`` and ``actions`` need nothing beyond the
engine, so the command line can say what to install when pygls is missing.
"""
