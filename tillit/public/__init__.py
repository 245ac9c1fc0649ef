"""Pages for data subjects: notice, rights portal, unsubscribe, cookie banner."""
