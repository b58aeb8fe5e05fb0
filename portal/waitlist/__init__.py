"""The city-wide waiting list (轮候库): queue entries, ranking and rotation."""
