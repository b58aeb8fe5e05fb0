"""Credit records (诚信体系). For now: bans that screen applicants."""
