"""SSO sign-in (OIDC with Authlib), sign-out, server-side sessions, step-up re-authentication."""
