"""The employee's pages on their own monitoring data: the dashboard (the signed-in home) and its
charts, the data browser, and who accessed their data."""
