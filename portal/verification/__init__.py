"""Department data checks (并联审核): the departments and, later, their backends."""
