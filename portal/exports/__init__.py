"""The employee's complete copy: a ZIP built by a job, streamed, sealed at rest, downloaded once
signed in afresh, deleted when it expires."""
