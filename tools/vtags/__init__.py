"""Virtual tags: allocate every cost row to an owner without touching the resources."""
