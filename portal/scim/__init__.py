"""SCIM 2.0 provisioning (RFC 7643, RFC 7644) at ``/scim/v2``: who joins, changes and leaves."""
