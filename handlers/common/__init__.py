"""Code shared by every function: the contracts between them, AWS client set-up, import-history access."""
