"""What the request e-mails may say: the template variables for a request, loaded at send time."""
