"""A custom-rule module that fails while it is imported: a rules file naming it is refused in one line."""

raise RuntimeError("broken on purpose")
