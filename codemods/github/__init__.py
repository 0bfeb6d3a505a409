"""The GitHub pull-request bot: `gofix-defer review`.

Runs the fixes on a pull request's changed Go files and posts them as one
review whose comments carry ```suggestion blocks (see docs/github-action.md).
"""
