"""The demo: identities, synthetic monitoring data, a local OIDC provider."""
