"""What every route shares: problem+json answers, strict JSON bodies, the body limit, paging,
ETags, request dependencies and the OpenAPI document."""
