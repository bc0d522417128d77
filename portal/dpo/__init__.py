"""The DPO's pages: the queue, the case, legal holds; the admin's queues and routing rules."""
