"""PUT /ads: upsert ads into the catalog (text → vector, stored in Redis)."""
