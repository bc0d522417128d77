"""Employees (data subjects), their staff roles, jurisdiction and employment status."""
