"""The directory of authorities, users and 24/7 points of contact, and its import/export."""
