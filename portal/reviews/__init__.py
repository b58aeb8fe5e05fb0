"""Annual reviews (年度复核), reported changes and lease renewals."""
