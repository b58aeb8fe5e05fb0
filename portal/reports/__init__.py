"""Targets (目标任务), construction projects and their monthly progress, the managers'
dashboard, the ledgers (台账) and the annual self-assessment report (监测评价)."""
