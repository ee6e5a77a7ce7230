"""Country and authority profiles (what a requested State requires of a request), the
competent-authority finder, the filing checks driven by them, their import and export, and
the export of our own authority in the UNODC directory's shape."""
