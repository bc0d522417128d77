"""The employee's own pages."""
