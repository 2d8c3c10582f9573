"""Tools for developing and testing against Soberana; not used by the server itself."""
