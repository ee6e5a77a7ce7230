"""HTTP interface: thin routers over the domain services in mla/."""
