"""Request documents as PDF (`pdf`), signed with the authority's certificate (`certs`,
`pades`), and signed PDFs received from counterparts, checked on registration
(`incoming`)."""
