"""The staff workbench: each role's start page and scope."""
