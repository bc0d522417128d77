"""The versioned monitoring policy: drafts, published versions, acknowledgements."""
